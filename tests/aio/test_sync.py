"""sync_upload / sync_download against the local server; request counts asserted at the server."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import oss2
import pytest
from aio_helpers import oss_session, run

from agentbay_oss.protocol.syncplan import PathFilter


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _listing(peer: oss2.Bucket, prefix: str) -> dict[str, bytes]:
    return {
        o.key[len(prefix) :]: peer.get_object(o.key).read()
        for o in oss2.ObjectIterator(peer, prefix=prefix)
    }


def _local(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)).replace(os.sep, "/"): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file()
    }


FILES = {
    "a.txt": b"alpha",
    "a-b.txt": b"dash sorts before the slash",
    "a/x.bin": os.urandom(3000),
    "a/y/z.txt": b"deep",
    "b.log": b"log",
    "\u00e9t\u00e9.txt": "été".encode(),
}


def test_sync_upload_sends_only_what_differs(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _tree(src, FILES)
    stats = oss_server.stats.requests

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            first = await oss.sync_upload(bucket, "site", str(src))
            puts = stats["PutObject"]
            heads = stats["HeadObject"]
            again = await oss.sync_upload(bucket, "site", str(src))
            noop = (stats["PutObject"] - puts, stats["HeadObject"] - heads)
            # Change one file (same size: mtime decides), add one, remove one.
            (src / "a.txt").write_bytes(b"ALPHA")
            later = time.time_ns() + 5 * 10**9  # modified after the upload (in seconds)
            os.utime(src / "a.txt", ns=(later, later))
            (src / "new.txt").write_bytes(b"new")
            (src / "b.log").unlink()
            puts = stats["PutObject"]
            third = await oss.sync_upload(bucket, "site", str(src), delete=True)
            return [first, again, noop, third, stats["PutObject"] - puts]

    first, again, noop, third, third_puts = run(go())
    assert first.success and first.files == len(FILES), first.error_message
    assert again.success and again.files == 0 and again.skipped == len(FILES)
    assert noop == (0, 0)  # a no-op sync sends nothing and asks nothing per file
    assert third.success and third.files == 2 and third.deleted == 1, third.content
    assert third_puts == 2
    expected = {k: v for k, v in FILES.items() if k != "b.log"}
    expected |= {"a.txt": b"ALPHA", "new.txt": b"new"}
    assert _listing(peer, "site/") == expected


def test_sync_download_round_trip_and_mtime(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, FILES)
    _tree(dst, {"stale.txt": b"only here", "a.txt": b"other"})
    stats = oss_server.stats.requests

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            assert (await oss.upload(bucket, "d", str(src))).success
            down = await oss.sync_download(bucket, "d/", str(dst), delete=True)
            gets = stats["GetObject"]
            again = await oss.sync_download(bucket, "d/", str(dst), delete=True)
            return [down, again, stats["GetObject"] - gets]

    down, again, gets = run(go())
    assert down.success, down.error_message
    assert down.deleted == 1 and down.files == len(FILES)
    assert _local(dst) == FILES
    for rel in FILES:  # the uploader's mtime came back, to the nanosecond
        assert (dst / rel).stat().st_mtime_ns == (src / rel).stat().st_mtime_ns
    assert again.success and again.files == 0 and again.skipped == len(FILES)
    assert gets == 0


def test_sync_checksum_size_dry_run_and_filters(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _tree(src, FILES)
    actions: list[Any] = []

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            assert (await oss.sync_upload(bucket, "c", str(src))).success
            # Same size and an old mtime: only the checksum sees the change.
            f = src / "a.txt"
            st = f.stat()
            f.write_bytes(b"ALPHA")
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 10 * 10**9))
            by_mtime = await oss.sync_upload(bucket, "c", str(src))
            by_size = await oss.sync_upload(bucket, "c", str(src), compare="size")
            dry = await oss.sync_upload(
                bucket, "c", str(src), compare="checksum", dry_run=True, on_action=actions.append
            )
            by_sum = await oss.sync_upload(bucket, "c", str(src), compare="checksum")
            only_txt = await oss.sync_upload(bucket, "t", str(src), include=["*.txt"])
            no_a = await oss.sync_upload(bucket, "n", str(src), exclude=["a/", "*.log"])
            return [by_mtime, by_size, dry, by_sum, only_txt, no_a]

    by_mtime, by_size, dry, by_sum, only_txt, no_a = run(go())
    assert by_mtime.files == 0 and by_size.files == 0
    assert dry.success and dry.dry_run and dry.files == 1
    assert [(a.action, a.key) for a in actions if a.action == "send"] == [("send", "c/a.txt")]
    assert peer.get_object("c/a.txt").read() == b"ALPHA"  # by the real run, not the dry one
    assert by_sum.files == 1
    assert only_txt.success and no_a.success
    assert sorted(_listing(peer, "t/")) == ["a-b.txt", "a.txt", "a/y/z.txt", "\u00e9t\u00e9.txt"]
    assert sorted(_listing(peer, "n/")) == ["a-b.txt", "a.txt", "\u00e9t\u00e9.txt"]


def test_sync_refuses_what_would_lose_data(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    dst = tmp_path / "dst"
    _tree(dst, {"keep.txt": b"keep"})
    peer.put_object("p/keep.txt", b"keep")
    a_file = tmp_path / "file.txt"
    a_file.write_bytes(b"x")

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.sync_upload(bucket, "p", str(empty), delete=True),
                await oss.sync_download(bucket, "nothing-here/", str(dst), delete=True),
                await oss.sync_upload(bucket, "p", str(a_file)),
                await oss.sync_download(bucket, "p/", str(a_file)),
                await oss.sync_upload(bucket, "p", str(empty), compare="fast"),
                await oss.sync_upload(bucket, "p", str(empty), include="*.txt"),
            ]

    results = run(go())
    for r in results:
        assert not r.success
    assert "source is empty" in results[0].error_message
    assert "source is empty" in results[1].error_message
    assert "is a file" in results[2].error_message and "is a file" in results[3].error_message
    assert "compare" in results[4].error_message
    assert "list of patterns" in results[5].error_message
    assert peer.get_object("p/keep.txt").read() == b"keep"
    assert (dst / "keep.txt").read_bytes() == b"keep"


@pytest.mark.parametrize(
    ("include", "exclude", "rel", "taken"),
    [
        ((), (), "a/b.txt", True),
        (("*.txt",), (), "a/b.txt", True),
        (("*.txt",), (), "a/b.log", False),
        (("*.txt",), ("*",), "b.txt", True),
        ((), ("*.log",), "x/y/z.log", False),
        ((), ("build/",), "build/out.o", False),
        ((), ("build/",), "src/build/out.o", False),
        ((), ("build/",), "build", True),  # a file named build is not the directory
        ((), ("/top.txt",), "top.txt", False),
        ((), ("/top.txt",), "sub/top.txt", True),
        (("docs/**/*.md",), ("*",), "docs/a/b/c.md", True),
        (("docs/**/*.md",), ("*",), "docs/c.md", True),
        (("docs/**/*.md",), ("*",), "c.md", False),
        ((), ("[ab]*.txt",), "a1.txt", False),
        ((), ("[!ab]*.txt",), "a1.txt", True),
    ],
)
def test_path_filter_rules(
    include: tuple[str, ...], exclude: tuple[str, ...], rel: str, taken: bool
) -> None:
    assert PathFilter.of(include, exclude)(rel) is taken


def test_include_exclude_on_directory_upload_and_download(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _tree(src, FILES)

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            up = await oss.upload(bucket, "u", str(src), exclude=["*.log", "a/y/"])
            down = await oss.download(bucket, "u/", str(tmp_path / "out"), include=["a/*"])
            return [up, down]

    up, down = run(go())
    assert up.success and down.success, (up.error_message, down.error_message)
    assert sorted(_listing(peer, "u/")) == ["a-b.txt", "a.txt", "a/x.bin", "\u00e9t\u00e9.txt"]
    assert sorted(_local(tmp_path / "out")) == ["a/x.bin"]
