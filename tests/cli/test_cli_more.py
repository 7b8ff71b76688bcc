"""The commands ossutil and aws s3 users reach for (issue 14, "CLI completeness"), end to end:
real subprocesses against the local server, oss2 as the judge."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import oss2
import pytest

from agentbay_oss.cli import build_parser, human_size
from agentbay_oss.server import LocalOssServer
from tests.cli.test_cli import CLI, _env, cli
from tests.conftest import Creds


def _peer(creds: Creds, bucket: str) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _keys(creds: Creds, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o.key for o in oss2.ObjectIteratorV2(_peer(creds, bucket), prefix=prefix))


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 10 * 1024, 1024**2 - 1)] == [
        "0",
        "1023",
        "1.0K",
        "1.5K",
        "10K",
        "1.0M",
    ]
    assert human_size(5 * 1024**3) == "5.0G"


def test_ls_buckets_mb_rb(creds: Creds, oss_server: LocalOssServer) -> None:
    name = f"t-{uuid.uuid4().hex[:16]}"
    made = cli("mb", f"oss://{name}", creds=creds)
    assert _ok(made).strip() == f"made oss://{name}"
    assert cli("mb", f"oss://{name}", creds=creds).returncode == 1  # it exists
    listed = _ok(cli("ls", "oss://", creds=creds)).splitlines()
    assert f"oss://{name}" in [line.split()[-1] for line in listed]
    assert _ok(cli("ls", creds=creds)).splitlines() == listed  # no argument: the buckets
    as_json = json.loads(_ok(cli("ls", "--json", "oss://", creds=creds)))
    assert name in [b["name"] for b in as_json["buckets"]]
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    assert name in [b.name for b in oss2.BucketIterator(oss2.Service(auth, creds.endpoint))]

    _peer(creds, name).put_object("a/b.txt", b"x")
    refused = cli("rb", f"oss://{name}", creds=creds)
    assert refused.returncode == 1 and "not empty" in refused.stderr and "--force" in refused.stderr
    assert _keys(creds, name) == ["a/b.txt"]  # nothing was removed
    removed = _ok(cli("rb", "--force", f"oss://{name}", creds=creds))
    assert "1 object(s) removed" in removed
    assert name not in [b.name for b in oss2.BucketIterator(oss2.Service(auth, creds.endpoint))]
    gone = cli("rb", f"oss://{name}", creds=creds)
    assert gone.returncode == 1 and "NoSuchBucket" in gone.stderr
    assert cli("mb", f"oss://{name}/key", creds=creds).returncode == 2


def test_rb_force_aborts_unfinished_multipart_uploads(
    creds: Creds, oss_server: LocalOssServer
) -> None:
    name = f"t-{uuid.uuid4().hex[:16]}"
    _ok(cli("mb", f"oss://{name}", creds=creds))
    peer = _peer(creds, name)
    peer.put_object("kept.txt", b"x")
    # Two unfinished uploads of one key, and one with a key needing URL encoding.
    ids = [peer.init_multipart_upload(k).upload_id for k in ("big.bin", "big.bin", "d/é t")]
    peer.upload_part("big.bin", ids[0], 1, b"part bytes")
    listed = {(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(peer)}
    assert listed == {("big.bin", ids[0]), ("big.bin", ids[1]), ("d/é t", ids[2])}
    removed = _ok(cli("rb", "--force", "--json", f"oss://{name}", creds=creds))
    got = json.loads(removed)
    assert (got["objects_removed"], got["uploads_aborted"]) == (1, 3)
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    assert name not in [b.name for b in oss2.BucketIterator(oss2.Service(auth, creds.endpoint))]


def test_ls_long_and_du(creds: Creds, bucket: str) -> None:
    peer = _peer(creds, bucket)
    peer.put_object("d/a.bin", b"a" * 1536)
    peer.put_object("d/sub/b.bin", b"b" * 2048)
    peer.put_object("top.txt", b"12345")
    long = _ok(cli("ls", "-l", f"oss://{bucket}/", creds=creds)).splitlines()
    assert long[0].split() == ["PRE", "d/"]
    assert long[1].split()[-2:] == ["5", "top.txt"]
    assert long[-1] == "Total: 1 object(s), 5 (5 bytes); 1 prefix(es)"
    rec = _ok(cli("ls", "-l", "-r", f"oss://{bucket}/d/", creds=creds)).splitlines()
    assert [line.split()[-2:] for line in rec[:-1]] == [
        ["1.5K", "d/a.bin"],
        ["2.0K", "d/sub/b.bin"],
    ]
    assert rec[-1] == "Total: 2 object(s), 3.5K (3584 bytes); 0 prefix(es)"
    plain = _ok(cli("ls", "-r", f"oss://{bucket}/d/", creds=creds)).splitlines()
    assert [line.split()[-2] for line in plain] == ["1536", "2048"]  # exact bytes, no summary

    du = _ok(cli("du", f"oss://{bucket}/d/", creds=creds))
    assert du.split("\t") == ["3.5K", "3584 bytes", "2 object(s)", f"oss://{bucket}/d/\n"]
    whole = json.loads(_ok(cli("du", "--json", f"oss://{bucket}", creds=creds)))
    assert (whole["objects"], whole["bytes"]) == (3, 3589)


def test_stat_and_cat(creds: Creds, bucket: str) -> None:
    peer = _peer(creds, bucket)
    peer.put_object(
        "k.txt", b"hello", headers={"Content-Type": "text/x-demo", "x-oss-meta-owner": "ana"}
    )
    peer.put_object("l.txt", b" world")
    head = peer.head_object("k.txt")
    info = json.loads(_ok(cli("stat", "--json", f"oss://{bucket}/k.txt", creds=creds)))
    assert info["size"] == 5 and info["etag"] == f'"{head.etag}"'
    assert info["crc64"] == int(head.server_crc)
    assert info["content_type"] == "text/x-demo" and info["metadata"] == {"owner": "ana"}
    assert info["last_modified"] == head.headers["Last-Modified"]
    text = _ok(cli("stat", f"oss://{bucket}/k.txt", creds=creds))
    assert "Size:           5 (5)" in text and "Meta owner: ana" in text
    missing = cli("stat", f"oss://{bucket}/nope", creds=creds)
    assert missing.returncode == 1 and "no object" in missing.stderr
    assert cli("stat", f"oss://{bucket}/dir/", creds=creds).returncode == 2

    both = subprocess.run(
        [*CLI, "cat", f"oss://{bucket}/k.txt", f"oss://{bucket}/l.txt"],
        env=_env(creds),
        capture_output=True,
        timeout=60,
    )
    assert both.returncode == 0, both.stderr
    assert both.stdout == b"hello world"
    bad = cli("cat", f"oss://{bucket}/nope", creds=creds)
    assert bad.returncode == 1 and bad.stdout == ""


def test_mv_object_and_prefix(creds: Creds, bucket: str, oss_server: LocalOssServer) -> None:
    peer = _peer(creds, bucket)
    peer.put_object("one.txt", b"1")
    _ok(cli("mv", f"oss://{bucket}/one.txt", f"oss://{bucket}/moved/", creds=creds))
    assert _keys(creds, bucket) == ["moved/one.txt"]
    for i in range(5):
        peer.put_object(f"src/f{i}.txt", str(i).encode())
    peer.put_object("src/deep/x.txt", b"x")
    out = _ok(cli("mv", "-r", f"oss://{bucket}/src/", f"oss://{bucket}/dst", creds=creds))
    assert "6 object(s) moved" in out
    assert _keys(creds, bucket, "src/") == []
    assert _keys(creds, bucket, "dst/") == ["dst/deep/x.txt", *[f"dst/f{i}.txt" for i in range(5)]]
    assert peer.get_object("dst/f3.txt").read() == b"3"

    into = cli("mv", "-r", f"oss://{bucket}/dst/", f"oss://{bucket}/dst/sub/", creds=creds)
    assert into.returncode == 2 and "into itself" in into.stderr
    assert cli("mv", f"oss://{bucket}/dst/", f"oss://{bucket}/e/", creds=creds).returncode == 2
    assert cli("mv", f"oss://{bucket}/x", "./local", creds=creds).returncode == 2

    # A copy that fails leaves its source: copies into a missing bucket all fail.
    failed = cli("mv", "-r", f"oss://{bucket}/dst/", "oss://no-such-bucket-here/d/", creds=creds)
    assert failed.returncode == 1
    assert len(_keys(creds, bucket, "dst/")) == 6
    missing = cli("mv", f"oss://{bucket}/nope", f"oss://{bucket}/x", creds=creds)
    assert missing.returncode == 1 and _keys(creds, bucket, "x") == []


def test_cp_no_clobber(creds: Creds, bucket: str, tmp_path: Path) -> None:
    peer = _peer(creds, bucket)
    peer.put_object("t/a.txt", b"remote a")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("local a")
    (tree / "b.txt").write_text("local b")
    out = _ok(cli("cp", "-r", "--no-clobber", str(tree), f"oss://{bucket}/t", creds=creds))
    assert f"skip (exists): oss://{bucket}/t/a.txt" in out
    assert peer.get_object("t/a.txt").read() == b"remote a"
    assert peer.get_object("t/b.txt").read() == b"local b"

    single = _ok(cli("cp", "-n", str(tree / "a.txt"), f"oss://{bucket}/t/", creds=creds))
    assert single.strip() == f"skip (exists): oss://{bucket}/t/a.txt"
    assert peer.get_object("t/a.txt").read() == b"remote a"

    down = tmp_path / "down"
    down.mkdir()
    (down / "a.txt").write_text("kept")
    _ok(cli("cp", "-r", "-n", f"oss://{bucket}/t/", str(down), creds=creds))
    assert (down / "a.txt").read_text() == "kept"
    assert (down / "b.txt").read_text() == "local b"
    one = _ok(cli("cp", "-n", f"oss://{bucket}/t/b.txt", str(down), creds=creds))
    assert one.startswith("skip (exists)")

    peer.put_object("c/b.txt", b"other")
    remote = _ok(cli("cp", "-r", "-n", f"oss://{bucket}/t/", f"oss://{bucket}/c/", creds=creds))
    assert "1 object(s) copied, 1 skipped" in remote
    assert peer.get_object("c/b.txt").read() == b"other"
    assert peer.get_object("c/a.txt").read() == b"remote a"


def test_cp_and_rm_dry_run_change_nothing(creds: Creds, bucket: str, tmp_path: Path) -> None:
    peer = _peer(creds, bucket)
    peer.put_object("r/x.txt", b"x")
    tree = tmp_path / "tree"
    (tree / "s").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "s" / "b.txt").write_text("b")
    up = _ok(cli("cp", "-r", "--dry-run", str(tree), f"oss://{bucket}/up", creds=creds))
    assert f"-> oss://{bucket}/up/a.txt" in up and f"-> oss://{bucket}/up/s/b.txt" in up
    one = _ok(cli("cp", "--dry-run", str(tree / "a.txt"), f"oss://{bucket}/k", creds=creds))
    assert one.strip() == f"upload: {tree / 'a.txt'} -> oss://{bucket}/k"
    down = _ok(cli("cp", "-r", "--dry-run", f"oss://{bucket}/r/", str(tmp_path / "d"), creds=creds))
    assert f"download: oss://{bucket}/r/x.txt ->" in down
    copy = _ok(
        cli("cp", "-r", "--dry-run", f"oss://{bucket}/r/", f"oss://{bucket}/c/", creds=creds)
    )
    assert copy.strip() == f"copy: oss://{bucket}/r/x.txt -> oss://{bucket}/c/x.txt"
    assert _keys(creds, bucket) == ["r/x.txt"]
    assert not (tmp_path / "d").exists()

    rm = _ok(cli("rm", "-r", "--dry-run", f"oss://{bucket}/r", creds=creds))
    assert rm.strip() == f"delete: oss://{bucket}/r/x.txt"
    whole = _ok(cli("rm", "-r", "--dry-run", f"oss://{bucket}/", creds=creds))  # no --force
    assert whole.strip() == f"delete: oss://{bucket}/r/x.txt"
    assert cli("rm", "--dry-run", f"oss://{bucket}/nope", creds=creds).returncode == 1
    assert _keys(creds, bucket) == ["r/x.txt"]


def test_cp_content_type_and_meta(creds: Creds, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(b"{}")
    _ok(
        cli(
            "cp",
            "--content-type",
            "application/json",
            "--meta",
            "Owner=ana",
            "--meta",
            "run=7",
            str(src),
            f"oss://{bucket}/m.json",
            creds=creds,
        )
    )
    head = _peer(creds, bucket).head_object("m.json")
    assert head.content_type == "application/json"
    assert head.headers["x-oss-meta-owner"] == "ana" and head.headers["x-oss-meta-run"] == "7"
    piped = subprocess.run(
        [
            *CLI,
            "cp",
            "--meta",
            "from=stdin",
            "--content-type",
            "text/plain",
            "-",
            f"oss://{bucket}/s.txt",
        ],
        input=b"text",
        env=_env(creds),
        capture_output=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    head = _peer(creds, bucket).head_object("s.txt")
    assert head.content_type == "text/plain" and head.headers["x-oss-meta-from"] == "stdin"
    bad = cli("cp", "--meta", "novalue", str(src), f"oss://{bucket}/x", creds=creds)
    assert bad.returncode == 2
    download = cli("cp", "--meta", "a=b", f"oss://{bucket}/s.txt", str(tmp_path / "o"), creds=creds)
    assert download.returncode == 2 and "uploads" in download.stderr


def test_verbose_and_debug_logs_keep_secrets_out(creds: Creds, bucket: str) -> None:
    _peer(creds, bucket).put_object("k", b"v")
    for flags in (["-v"], ["--debug"], ["ls", "--debug"]):
        args = (
            [*flags, "ls", f"oss://{bucket}/"] if flags[0] != "ls" else [*flags, f"oss://{bucket}/"]
        )
        proc = cli(*args, creds=creds)
        assert proc.returncode == 0, proc.stderr
        assert "INFO agentbay_oss.cli: client:" in proc.stderr
        if "--debug" in flags:
            assert f"GET oss://{bucket}/: 200" in proc.stderr
        assert creds.access_key_secret not in proc.stderr + proc.stdout
        assert creds.security_token and creds.security_token not in proc.stderr + proc.stdout
    quiet = cli("ls", f"oss://{bucket}/", creds=creds)
    assert quiet.stderr == ""
    failing = cli("--debug", "stat", f"oss://{bucket}/nope", creds=creds)
    assert failing.returncode == 1 and "Traceback" in failing.stderr
    assert creds.access_key_secret not in failing.stderr


def test_completion_scripts_name_every_command(tmp_path: Path) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    for shell in ("bash", "zsh", "fish"):
        proc = cli("completion", shell, creds=None)
        script = _ok(proc)
        for name in commands:
            assert name in script, (shell, name)
        dashes = "" if shell == "fish" else "--"  # fish: -l no-clobber
        assert f"{dashes}no-clobber" in script and f"{dashes}recursive" in script
        path = tmp_path / f"c.{shell}"
        path.write_text(script)
        if shell == "bash" or shutil.which(shell):
            check = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
    script = tmp_path / "c.bash"
    probe = subprocess.run(
        [
            "bash",
            "-c",
            f'source {script}; COMP_WORDS=(agentbay-oss m); COMP_CWORD=1; _agentbay_oss; echo "${{COMPREPLY[*]}}"; '
            'COMP_WORDS=(agentbay-oss cp --no-c); COMP_CWORD=2; _agentbay_oss; echo "${COMPREPLY[*]}"',
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.splitlines() == ["mv mb", "--no-clobber"], probe.stderr
    assert cli("completion", "tcsh", creds=None).returncode == 2


@pytest.mark.parametrize("command", ["mv", "du", "stat", "cat", "mb", "rb", "completion"])
def test_new_commands_have_help(command: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentbay_oss.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("usage: agentbay-oss " + command)
