"""Atomic and clean: a failed download leaves no partial file and never damages the file
already at the destination; a failed upload (no checkpointing) leaves no multipart upload
behind; a source that changes while it is uploaded is reported, never stored as a mix."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import (
    PART,
    QUICK,
    leftovers,
    oss_session,
    peer_bucket,
    remote_state,
    run,
    write_file,
)

from agentbay_oss.aio import ProgressEvent
from agentbay_oss.errors import SourceChangedError
from agentbay_oss.server import FaultConfig, LocalOssServer

SERIAL = QUICK.model_copy(update={"concurrency": 1})
# Ranged downloads: at concurrency 1 a download is one stream (no ranges to break between).
RANGED = QUICK.model_copy(update={"concurrency": 2})
PREVIOUS = b"the previous version of this file, which must survive"


def _after_bytes(n: int, action: Callable[[], None]) -> Callable[[ProgressEvent], None]:
    fired = False

    def hook(event: ProgressEvent) -> None:
        nonlocal fired
        if not fired and event.bytes_done >= n:
            fired = True
            action()

    return hook


# ---------------------------------------------------------------------------- downloads


@pytest.mark.parametrize(
    "rate", ["fail_rate", "reset_rate", "corrupt_rate"], ids=["503", "reset mid-body", "corrupt"]
)
@pytest.mark.parametrize("size", [150 * 1024, 6 * PART], ids=["single", "ranged"])
def test_failed_download_keeps_the_existing_file(
    creds: Any,
    bucket: str,
    oss_server: LocalOssServer,
    tmp_path: Path,
    rate: str,
    size: int,
) -> None:
    data = write_file(tmp_path / "src.bin", size)
    peer_bucket(creds, bucket).put_object("k", data)
    dest = tmp_path / "out" / "k.bin"
    dest.parent.mkdir()
    dest.write_bytes(PREVIOUS)

    def break_server() -> None:
        oss_server.faults = FaultConfig(**{rate: 1.0})

    async def main() -> None:
        async with oss_session(
            creds, RANGED if size > QUICK.multipart_threshold else SERIAL
        ) as oss:
            hook = None
            if size > SERIAL.multipart_threshold:
                hook = _after_bytes(PART, break_server)  # every range after the first fails
            else:
                # The HEAD passes, the GET and its retries fail.
                only_get = frozenset({"GetObject"})
                oss_server.faults = FaultConfig(operations=only_get, **{rate: 1.0})
            oss_server.stats.reset()
            r = await oss.download(bucket, "k", str(dest), progress=hook)
            oss_server.faults = FaultConfig()
            assert not r.success and r.error_message
            assert oss_server.stats.requests["GetObject"] >= 2  # the body was asked for

    run(main())
    assert dest.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []


def test_failed_download_into_a_new_path_leaves_nothing(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    peer_bucket(creds, bucket).put_object("k", write_file(tmp_path / "src.bin", 6 * PART))
    out = tmp_path / "out"
    out.mkdir()

    async def main() -> None:
        async with oss_session(creds, RANGED) as oss:
            hook = _after_bytes(2 * PART, lambda: setattr(oss_server.faults, "fail_rate", 1.0))
            r = await oss.download(bucket, "k", str(out / "k.bin"), progress=hook)
            assert not r.success

    run(main())
    assert list(out.iterdir()) == []


def test_cancelled_download_keeps_the_existing_file(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    peer_bucket(creds, bucket).put_object("k", write_file(tmp_path / "src.bin", 8 * PART))
    dest = tmp_path / "out" / "k.bin"
    dest.parent.mkdir()
    dest.write_bytes(PREVIOUS)

    async def main() -> None:
        async with oss_session(creds, RANGED) as oss:
            started = asyncio.Event()
            hook = _after_bytes(2 * PART, started.set)
            task = asyncio.create_task(oss.download(bucket, "k", str(dest), progress=hook))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())
    assert dest.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []


def _first_draw_resets() -> int:
    """A seed whose first fault decision is a reset at rate 0.5 (the server draws seven
    numbers per request; the third decides a reset), so the test always sees one."""
    import random

    return next(s for s in range(1000) if [random.Random(s).random() for _ in range(3)][2] < 0.5)


def test_one_stream_download_at_concurrency_one_survives_resets(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """At concurrency 1 a big object comes in one GET; a connection reset mid-body is retried
    from the bytes already written, and the file is still byte-exact."""
    data = write_file(tmp_path / "src.bin", 12 * PART)
    peer_bucket(creds, bucket).put_object("k", data)
    dest = tmp_path / "out.bin"
    patient = SERIAL.model_copy(update={"max_retries": 10})

    async def main() -> tuple[Any, Any, int]:
        async with oss_session(creds, patient) as oss:
            oss_server.stats.reset()
            quiet = await oss.download(bucket, "k", str(tmp_path / "quiet.bin"))
            gets = oss_server.stats.requests["GetObject"]
            oss_server.faults = FaultConfig(
                operations=frozenset({"GetObject"}), reset_rate=0.5, seed=_first_draw_resets()
            )
            noisy = await oss.download(bucket, "k", str(dest))
            oss_server.faults = FaultConfig()
            return quiet, noisy, gets

    quiet, noisy, gets = run(main())
    assert quiet.success and gets == 1  # one stream, not 12 ranges
    assert noisy.success, noisy.error_message
    assert oss_server.stats.faults["reset"] >= 1
    assert dest.read_bytes() == data
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------- uploads


def _no_upload_left(creds: Any, bucket: str) -> None:
    keys, uploads = remote_state(peer_bucket(creds, bucket))
    assert uploads == [], f"multipart uploads left behind: {uploads}"
    assert keys == [], f"objects stored by a failed upload: {keys}"


@pytest.mark.parametrize("cause", ["503", "reset", "bad crc"])
def test_failed_multipart_upload_leaves_no_upload_behind(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path, cause: str
) -> None:
    """A part fails for good (no retries left) while the server can still take the abort."""
    src = tmp_path / "src.bin"
    write_file(src, 8 * PART)
    if cause == "bad crc":  # wrong CRC on every part reply; the abort has no CRC to get wrong
        faults = FaultConfig(bad_crc_rate=1.0)
    else:  # every part request fails; the abort (another operation) gets through
        rate = "fail_rate" if cause == "503" else "reset_rate"
        faults = FaultConfig(operations=frozenset({"UploadPart"}), **{rate: 1.0})

    def break_server() -> None:
        oss_server.faults = faults

    async def main() -> None:
        cfg = SERIAL.model_copy(update={"max_retries": 0})
        async with oss_session(creds, cfg) as oss:
            r = await oss.upload(
                bucket, "k", str(src), progress=_after_bytes(3 * PART, break_server)
            )
            oss_server.faults = FaultConfig()
            assert not r.success and r.error_message

    run(main())
    _no_upload_left(creds, bucket)


def test_cancelled_upload_leaves_no_upload_behind(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, 8 * PART)

    async def main() -> None:
        async with oss_session(creds, SERIAL) as oss:
            started = asyncio.Event()
            hook = _after_bytes(2 * PART, started.set)
            task = asyncio.create_task(oss.upload(bucket, "k", str(src), progress=hook))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())
    _no_upload_left(creds, bucket)


def _grow(path: Path) -> Callable[[], None]:
    def act() -> None:
        with path.open("ab") as f:
            f.write(b"more")

    return act


def _shrink(path: Path) -> Callable[[], None]:
    return lambda: os.truncate(path, path.stat().st_size - 1000)


def _rewrite_same_size(path: Path) -> Callable[[], None]:
    def act() -> None:
        st = path.stat()
        with path.open("r+b") as f:
            f.seek(st.st_size - 10)
            f.write(b"X" * 10)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    return act


@pytest.mark.parametrize("change", [_grow, _shrink, _rewrite_same_size], ids=lambda f: f.__name__)
def test_source_changing_during_upload_is_reported_not_mixed(
    creds: Any, bucket: str, tmp_path: Path, change: Callable[[Path], Callable[[], None]]
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, 8 * PART)

    async def main() -> None:
        async with oss_session(creds, SERIAL) as oss:
            r = await oss.upload(bucket, "k", str(src), progress=_after_bytes(PART, change(src)))
            assert not r.success
            assert "changed" in r.error_message or "shorter" in r.error_message
            with pytest.raises(SourceChangedError):
                r.raise_for_error()

    run(main())
    _no_upload_left(creds, bucket)


def test_file_changing_in_a_directory_upload_is_reported_not_stored(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    # 100 KiB files: above the walker's read-ahead size, so each is read when its turn comes,
    # after the change below.
    tree = tmp_path / "tree"
    for i in range(20):
        write_file(tree / f"f{i:02d}.bin", 100 * 1024 + i)
    last = tree / "f19.bin"

    async def main() -> None:
        async with oss_session(creds, SERIAL) as oss:
            r = await oss.upload(bucket, "t", str(tree), progress=_after_bytes(1, _grow(last)))
            assert not r.success and "f19.bin" in r.error_message
            assert "changed" in r.error_message and "1 item(s)" in r.error_message

    run(main())
    keys, uploads = remote_state(peer_bucket(creds, bucket))
    assert keys == [f"t/f{i:02d}.bin" for i in range(19)] and uploads == []


def test_small_file_changing_after_the_walker_read_it_stores_the_bytes_read(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    """Small files are read (and checked unchanged across the read) by the directory walker,
    ahead of their upload: a later change is not seen, and the object holds the file exactly
    as it was read, never a mix of old and new bytes."""
    tree = tmp_path / "tree"
    for i in range(20):
        write_file(tree / f"f{i:02d}.bin", 1000 + i)
    last = tree / "f19.bin"
    before = last.read_bytes()

    async def main() -> None:
        async with oss_session(creds, SERIAL) as oss:
            r = await oss.upload(bucket, "t2", str(tree), progress=_after_bytes(1, _grow(last)))
            assert r.success, r.error_message

    run(main())
    assert last.read_bytes() != before  # the change did happen, during the upload
    peer = peer_bucket(creds, bucket)
    assert peer.get_object("t2/f19.bin").read() == before
    keys, uploads = remote_state(peer)
    assert len([k for k in keys if k.startswith("t2/")]) == 20 and uploads == []


@pytest.mark.parametrize("how", ["cancelled", "bad crc on every part"])
def test_failed_directory_upload_leaves_no_upload_behind(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path, how: str
) -> None:
    """Several multipart uploads in flight at once (one per file): each is aborted."""
    tree = tmp_path / "tree"
    for i in range(6):
        write_file(tree / f"f{i}.bin", 4 * PART, seed=i)

    async def main() -> None:
        async with oss_session(creds, QUICK) as oss:
            oss_server.stats.reset()
            if how == "cancelled":
                started = asyncio.Event()
                hook = _after_bytes(3 * PART, started.set)
                task = asyncio.create_task(oss.upload(bucket, "t", str(tree), progress=hook))
                await started.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            else:
                oss_server.faults = FaultConfig(bad_crc_rate=1.0)
                r = await oss.upload(bucket, "t", str(tree))
                oss_server.faults = FaultConfig()
                assert not r.success and "6 item(s)" in r.error_message
            assert oss_server.stats.requests["InitiateMultipartUpload"] >= 2

    run(main())
    _no_upload_left(creds, bucket)
