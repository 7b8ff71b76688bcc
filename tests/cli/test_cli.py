"""`agentbay-oss` end to end: real subprocesses against the local server."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import oss2
import pytest

from agentbay_oss.cli import CliError, parse_location
from agentbay_oss.server import FaultConfig, LocalOssServer
from tests.conftest import Creds

KiB = 1024


def _env(creds: Creds | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSS_")}
    env.pop("AGENTBAY_OSS_DEBUG", None)
    if creds is not None:
        env.update(
            OSS_ACCESS_KEY_ID=creds.access_key_id,
            OSS_ACCESS_KEY_SECRET=creds.access_key_secret,
            OSS_SESSION_TOKEN=creds.security_token or "",
            OSS_ENDPOINT=creds.endpoint,
            OSS_REGION=creds.region,
        )
    env.update(extra)
    return env


CLI = (sys.executable, "-m", "agentbay_oss.cli")


def cli(
    *args: str, creds: Creds | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env if env is not None else _env(creds),
        capture_output=True,
        text=True,
        timeout=60,
    )


def interrupt(
    args: list[str], creds: Creds, started: Callable[[], bool]
) -> subprocess.CompletedProcess[str]:
    """Run the CLI, wait until `started()`, then Ctrl-C it as a terminal does (SIGINT)."""
    proc = subprocess.Popen(
        [*CLI, *args], env=_env(creds), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60  # a wait, not a timing assertion
        while not started() and proc.poll() is None:
            assert time.monotonic() < deadline, "the transfer never got going"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_parse_location() -> None:
    assert parse_location("oss://b/dir/k.txt").bucket == "b"
    assert parse_location("oss://b/dir/k.txt").key == "dir/k.txt"
    assert parse_location("oss://b").key == ""
    assert parse_location("HTTPS://host/x?sig=1").kind == "url"
    assert parse_location("./local/oss://x").kind == "local"
    with pytest.raises(CliError):
        parse_location("oss:///key")


def test_cp_ls_rm_round_trip(creds: Creds, bucket: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "a.txt").write_text("alpha")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(300 * KiB))
    single = tmp_path / "single.txt"
    single.write_text("one file")

    out = _ok(cli("cp", "-r", str(tree), f"oss://{bucket}/tree", creds=creds))
    assert out.startswith("Upload success")
    _ok(cli("cp", "--quiet", str(single), f"oss://{bucket}/", creds=creds))

    top = _ok(cli("ls", f"oss://{bucket}/", creds=creds)).splitlines()
    assert [line.split()[-1] for line in top] == ["tree/", "single.txt"]
    listed = json.loads(_ok(cli("ls", "--json", "-r", f"oss://{bucket}/tree/", creds=creds)))
    assert sorted(e["key"] for e in listed["entries"]) == [
        "tree/a.txt",
        "tree/empty/",
        "tree/sub/b.bin",
    ]

    back = tmp_path / "back"
    result = json.loads(
        _ok(cli("cp", "-r", "--json", f"oss://{bucket}/tree/", str(back), creds=creds))
    )
    assert result["success"] and result["files"] == 2
    assert (back / "a.txt").read_text() == "alpha"
    assert (back / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    assert (back / "empty").is_dir()

    removed = _ok(cli("rm", "-r", f"oss://{bucket}/tree", creds=creds)).splitlines()
    assert len(removed) == 3
    _ok(cli("rm", f"oss://{bucket}/single.txt", creds=creds))
    assert _ok(cli("ls", "-r", f"oss://{bucket}/", creds=creds)) == ""


def test_presigned_urls_with_anonymous_cp(creds: Creds, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "up.txt"
    src.write_text("through a presigned PUT")
    put_url = _ok(cli("presign", "--method", "PUT", f"oss://{bucket}/p.txt", creds=creds)).strip()
    assert put_url.startswith(creds.endpoint) and "x-oss-signature=" in put_url
    # No credentials in the environment: the URL alone must do.
    _ok(cli("cp", str(src), put_url, creds=None))
    get_url = _ok(cli("presign", "--expires", "60", f"oss://{bucket}/p.txt", creds=creds)).strip()
    dest = tmp_path / "down.txt"
    _ok(cli("cp", get_url, str(dest), creds=None))
    assert dest.read_text() == "through a presigned PUT"


def test_failures_exit_non_zero_with_a_message(creds: Creds, bucket: str, tmp_path: Path) -> None:
    missing = cli("cp", f"oss://{bucket}/no/such/key.txt", str(tmp_path / "x"), creds=creds)
    assert missing.returncode == 1
    assert missing.stderr.startswith("agentbay-oss: error: ")
    assert "NoSuchKey" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "x").exists()

    wrong = cli(
        "ls",
        f"oss://{bucket}/",
        creds=creds,
        env=_env(creds, OSS_ACCESS_KEY_SECRET="not-the-secret"),
    )
    assert wrong.returncode == 1
    assert "SignatureDoesNotMatch" in wrong.stderr
    assert "not-the-secret" not in wrong.stderr + wrong.stdout

    no_creds = cli("ls", f"oss://{bucket}/", creds=None)
    assert no_creds.returncode == 1
    assert "OSS_ACCESS_KEY_ID" in no_creds.stderr

    tuned = cli("cp", "--concurrency", "0", str(tmp_path), f"oss://{bucket}/d", "-r", creds=creds)
    assert tuned.returncode == 2  # a bad flag value is a usage error
    assert "--concurrency" in tuned.stderr

    usage = cli("cp", str(tmp_path), f"oss://{bucket}/d", creds=creds)
    assert usage.returncode == 2
    assert "use -r" in usage.stderr


def test_progress_bar_on_a_terminal(creds: Creds, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(1024 * KiB))
    leader, follower = pty.openpty()
    env = _env(creds, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentbay_oss.cli", "cp", str(src), f"oss://{bucket}/big.bin"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
    assert "upload" in text
    assert "1/1 files" in text
    assert "1.0/1.0 MiB" in text
    assert "Upload success" in text


@pytest.mark.parametrize("buckets", [["--bucket", "served"], []])
def test_serve_prints_its_listening_line(tmp_path: Path, buckets: list[str]) -> None:
    env = _env(None, OSS_ACCESS_KEY_ID="LTAIserve", OSS_ACCESS_KEY_SECRET="serve-secret")
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--root", str(tmp_path / "root"), *buckets],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"listening on (http://127\.0\.0\.1:\d+) OSS_ENDPOINT=\1 ", line)
        assert match, line
        bucket = oss2.Bucket(oss2.Auth("LTAIserve", "serve-secret"), match.group(1), "served")
        if not buckets:
            bucket.create_bucket()  # what the hint says
        bucket.put_object("k", b"served")
        assert bucket.get_object("k").read() == b"served"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == ""
    # Without a bucket, stderr says how to get one (stdout keeps its one line).
    assert ("no bucket yet: restart with --bucket NAME" in err) is (not buckets), err


def test_ctrl_c_on_cp_aborts_the_multipart_upload(
    creds: Creds, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(4 * 1024 * KiB))
    requests = oss_server.stats.requests
    parts_before = requests["UploadPart"]
    oss_server.faults = FaultConfig(latency_ms=100)
    tuning = ["--concurrency", "1", "--part-size", "100KiB", "--multipart-threshold", "200KiB"]
    proc = interrupt(
        ["cp", str(src), f"oss://{bucket}/big.bin", *tuning],
        creds,
        lambda: requests["UploadPart"] > parts_before,  # the multipart upload is under way
    )
    oss_server.faults = FaultConfig()
    stderr = proc.stderr
    assert proc.returncode == 130, stderr
    assert f"interrupted: no file was uploaded to oss://{bucket}/big.bin yet" in stderr
    assert "Traceback" not in stderr
    peer = oss2.Bucket(
        oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token),
        creds.endpoint,
        bucket,
    )
    assert list(oss2.MultipartUploadIterator(peer)) == []
    assert not peer.object_exists("big.bin")


def test_cp_checkpoint_dir_is_wired(creds: Creds, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(700 * KiB))
    tuning = ("--part-size", "200KiB", "--multipart-threshold", "300KiB")
    ckpt = tmp_path / "ckpt"
    _ok(
        cli(
            "cp",
            *tuning,
            "--checkpoint-dir",
            str(ckpt),
            str(src),
            f"oss://{bucket}/big",
            creds=creds,
        )
    )
    assert ckpt.is_dir() and list(ckpt.iterdir()) == []  # records were used, then dropped

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    proc = cli(
        "cp", *tuning, "--checkpoint-dir", str(blocker), str(src), f"oss://{bucket}/b2", creds=creds
    )
    assert proc.returncode == 1
    assert "checkpoint_dir" in proc.stderr and str(blocker) in proc.stderr


def test_missing_region_names_the_cli_flag(tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    env = _env(None, OSS_ACCESS_KEY_ID="AK", OSS_ACCESS_KEY_SECRET="SK")
    proc = cli(
        "cp", "--endpoint", "http://127.0.0.1:1", str(src), "oss://bkt/k", creds=None, env=env
    )
    assert proc.returncode == 1
    assert "--region" in proc.stderr and "OSS_REGION" in proc.stderr
    assert "region=" not in proc.stderr.replace("OSS_REGION", "")
