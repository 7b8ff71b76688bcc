"""Sync's and directory copy's bad-input edges (issue 15), against the local server: each a
clear message, nothing lost. (A local path that is a file, and delete=True with an empty
source, are in test_sync.py.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import oss2
from aio_helpers import oss_session, run

from agentbay_oss.models import SyncAction


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _keys(peer: oss2.Bucket, prefix: str = "") -> list[str]:
    return sorted(o.key for o in oss2.ObjectIteratorV2(peer, prefix=prefix))


def test_dry_run_download_does_not_create_the_destination(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    peer.put_object("p/a.txt", b"a")
    peer.put_object("p/d/b.txt", b"b")
    dest = tmp_path / "missing" / "deeper"
    actions: list[SyncAction] = []

    async def go() -> Any:
        async with oss_session(creds) as oss:
            return await oss.sync_download(
                bucket, "p/", str(dest), dry_run=True, delete=True, on_action=actions.append
            )

    r = run(go())
    assert r.success and r.dry_run and r.files == 2, r.error_message
    assert [(a.action, a.key) for a in actions] == [("send", "p/a.txt"), ("send", "p/d/b.txt")]
    assert not (tmp_path / "missing").exists()


def test_a_prefix_copied_into_its_own_subprefix_is_refused(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket
) -> None:
    for k in ("a/x.txt", "a/sub/y.txt", "ab/z.txt"):
        peer.put_object(k, b"k")
    before = _keys(peer)
    copies = oss_server.stats.requests

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            start = copies["CopyObject"]
            into_sub = await oss.copy(bucket, "a/", bucket, "a/sub/")
            into_self = await oss.copy(bucket, "a/", bucket, "a/")
            whole = await oss.copy(bucket, "", bucket, "backup/")
            sibling = await oss.copy(bucket, "a/", bucket, "ab/")  # not inside a/: allowed
            return [into_sub, into_self, whole, sibling, copies["CopyObject"] - start]

    into_sub, into_self, whole, sibling, sent = run(go())
    for r in (into_sub, whole):
        assert not r.success and "inside the source" in r.error_message, r.error_message
    assert not into_self.success and "change nothing" in into_self.error_message
    assert sibling.success and sibling.files == 2, sibling.error_message
    assert sent == 2  # only the sibling copy's
    assert _keys(peer) == sorted([*before, "ab/x.txt", "ab/sub/y.txt"])


def test_a_file_that_vanishes_between_walk_and_read(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    small, big = os.urandom(100), os.urandom(300 * 1024)  # read ahead / read when sent
    _write(src, {"a.txt": b"same", "b-small.bin": small, "c-big.bin": big, "d.txt": b"d"})

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            assert (await oss.upload(bucket, "s/a.txt", str(src / "a.txt"))).success

            def vanish(action: SyncAction) -> None:
                # The walker has seen every file by now (one batch); these go before their
                # bytes are read: b-small as a.txt is skipped (before the read-ahead of the
                # files to send), c-big as its own send is announced.
                if action.key == "s/a.txt":
                    (src / "b-small.bin").unlink()
                if action.action == "send" and action.key == "s/c-big.bin":
                    (src / "c-big.bin").unlink()

            return [await oss.sync_upload(bucket, "s", str(src), on_action=vanish)]

    (r,) = run(go())
    assert not r.success and r.failed == 2 and r.files == 1 and r.skipped == 1
    for name in ("b-small.bin", "c-big.bin"):
        assert str(src / name) in r.error_message
    assert "no longer exists" in r.error_message, r.error_message
    assert _keys(peer, "s/") == ["s/a.txt", "s/d.txt"]  # nothing half-written


def test_an_object_deleted_between_listing_and_get(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    for k in ("p/a.txt", "p/b.txt", "p/c.txt"):
        peer.put_object(k, k.encode())
    dest = tmp_path / "dest"

    def vanish(action: SyncAction) -> None:
        if action.action == "send" and action.key == "p/b.txt":
            peer.delete_object("p/b.txt")  # listed, now gone before its GET

    async def go() -> Any:
        async with oss_session(creds) as oss:
            return await oss.sync_download(bucket, "p/", str(dest), on_action=vanish)

    r = run(go())
    assert not r.success and r.failed == 1 and r.files == 2
    assert "oss://" in r.error_message and "p/b.txt" in r.error_message
    assert "no longer exists" in r.error_message, r.error_message
    assert sorted(os.listdir(dest)) == ["a.txt", "c.txt"]  # no temp file left behind


def test_patterns_that_match_nothing_say_so(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _write(src, {"a.txt": b"a", "d/b.txt": b"b"})
    peer.put_object("p/keep.txt", b"keep")

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.sync_upload(bucket, "p", str(src), include=["*.md"]),
                await oss.sync_upload(bucket, "p", str(src), include=["*.md"], delete=True),
                await oss.sync_upload(bucket, "p", str(src), exclude=["*.md"]),
            ]

    nothing, refused, some = run(go())
    # As rsync, aws s3 sync and rclone: not an error, but said.
    assert nothing.success and nothing.files == 0
    assert "no file matched the include / exclude patterns" in nothing.content
    assert not refused.success and "patterns take" in refused.error_message
    assert some.success and some.files == 2 and "matched" not in some.content
    assert _keys(peer, "p/") == ["p/a.txt", "p/d/b.txt", "p/keep.txt"]
