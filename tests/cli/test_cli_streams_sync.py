"""`cp` between remotes and through stdin/stdout, `cp -r` filters, and `sync`, end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import oss2

from tests.cli.test_cli import CLI, _env, cli
from tests.conftest import Creds


def _peer(creds: Creds, bucket: str) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)


def test_cp_stdin_to_oss_and_oss_to_stdout(creds: Creds, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    up = subprocess.run(
        [*CLI, "cp", "-", f"oss://{bucket}/from-stdin.bin"],
        input=data,
        env=_env(creds),
        capture_output=True,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    assert _peer(creds, bucket).get_object("from-stdin.bin").read() == data
    down = subprocess.run(
        [*CLI, "cp", f"oss://{bucket}/from-stdin.bin", "-"],
        env=_env(creds),
        capture_output=True,
        timeout=60,
    )
    assert down.returncode == 0, down.stderr
    assert down.stdout == data  # the object only: no result line mixed in
    (tmp_path / "-").write_bytes(b"a file named dash")
    as_file = cli("cp", str(tmp_path / "-"), f"oss://{bucket}/dash", creds=creds)
    assert as_file.returncode == 0, as_file.stderr
    bad = cli("cp", "-", f"oss://{bucket}/dir/", creds=creds)
    assert bad.returncode == 2 and "one object" in bad.stderr


def test_cp_between_remotes_is_a_server_side_copy(
    creds: Creds, bucket: str, oss_server: object
) -> None:
    peer = _peer(creds, bucket)
    peer.put_object("a/one.txt", b"1")
    peer.put_object("a/sub/two.txt", b"22")
    one = cli("cp", f"oss://{bucket}/a/one.txt", f"oss://{bucket}/b/", creds=creds)
    assert one.returncode == 0, one.stderr
    assert peer.get_object("b/one.txt").read() == b"1"
    no_r = cli("cp", f"oss://{bucket}/a/", f"oss://{bucket}/c/", creds=creds)
    assert no_r.returncode == 2 and "-r" in no_r.stderr
    tree = cli("cp", "-r", f"oss://{bucket}/a/", f"oss://{bucket}/c", "--json", creds=creds)
    assert tree.returncode == 0, tree.stderr
    assert json.loads(tree.stdout)["files"] == 2
    assert peer.get_object("c/sub/two.txt").read() == b"22"


def test_cp_recursive_filters(creds: Creds, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "logs").mkdir(parents=True)
    (src / "keep.csv").write_text("k")
    (src / "drop.tmp").write_text("d")
    (src / "logs" / "x.log").write_text("x")
    r = cli(
        "cp", "-r", str(src), f"oss://{bucket}/f", "--exclude", "*.tmp", "--exclude", "logs/",
        creds=creds,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    keys = [o.key for o in oss2.ObjectIterator(_peer(creds, bucket))]
    assert keys == ["f/keep.csv"]


def test_sync_both_ways_with_delete_and_dry_run(creds: Creds, bucket: str, tmp_path: Path) -> None:
    src, back = tmp_path / "src", tmp_path / "back"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.txt").write_text(str(i))
    first = cli("sync", str(src), f"oss://{bucket}/s", "--json", creds=creds)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["files"] == 5
    (src / "f0.txt").unlink()
    dry = cli("sync", str(src), f"oss://{bucket}/s", "--delete", "--dry-run", creds=creds)
    assert dry.returncode == 0, dry.stderr
    assert "delete: s/f0.txt" in dry.stdout and "skip: s/f1.txt" in dry.stdout
    peer = _peer(creds, bucket)
    assert peer.object_exists("s/f0.txt")  # a dry run changes nothing
    real = cli("sync", str(src), f"oss://{bucket}/s", "--delete", "--json", creds=creds)
    result = json.loads(real.stdout)
    assert (result["files"], result["skipped"], result["deleted"]) == (0, 4, 1)
    assert not peer.object_exists("s/f0.txt")
    down = cli("sync", f"oss://{bucket}/s/", str(back), "--checksum", creds=creds)
    assert down.returncode == 0, down.stderr
    assert sorted(p.name for p in back.iterdir()) == [f"f{i}.txt" for i in range(1, 5)]
    both_local = cli("sync", str(src), str(back), creds=creds)
    assert both_local.returncode == 2 and "one local directory" in both_local.stderr


def test_sync_bad_input_from_the_command_line(creds: Creds, bucket: str, tmp_path: Path) -> None:
    peer = _peer(creds, bucket)
    peer.put_object("s/a.txt", b"a")
    peer.put_object("s/b.txt", b"b")
    empty, missing = tmp_path / "empty", tmp_path / "not" / "there"
    empty.mkdir()
    # --delete from an empty source: refused (a typo must not wipe a prefix) unless --force.
    refused = cli("sync", str(empty), f"oss://{bucket}/s", "--delete", creds=creds)
    assert refused.returncode == 1 and "source is empty" in refused.stderr
    assert "--force" in refused.stderr and peer.object_exists("s/a.txt")
    # A dry run into a directory that does not exist lists the sends and creates nothing.
    dry = cli("sync", f"oss://{bucket}/s/", str(missing), "--dry-run", creds=creds)
    assert dry.returncode == 0, dry.stderr
    assert "send: s/a.txt" in dry.stdout and not (tmp_path / "not").exists()
    # A prefix copied into its own subprefix: refused before anything is copied.
    loop = cli("cp", "-r", f"oss://{bucket}/s/", f"oss://{bucket}/s/sub/", creds=creds)
    assert loop.returncode != 0 and "inside the source" in loop.stderr
    assert sorted(o.key for o in oss2.ObjectIteratorV2(peer)) == ["s/a.txt", "s/b.txt"]
    wiped = cli(
        "sync", str(empty), f"oss://{bucket}/s", "--delete", "--force", "--json", creds=creds
    )
    assert wiped.returncode == 0, wiped.stderr
    assert json.loads(wiped.stdout)["deleted"] == 2
    assert list(oss2.ObjectIteratorV2(peer)) == []
