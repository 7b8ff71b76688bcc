"""Download engine: any `Target` (signed object or URL) into a file or an in-order consumer.

Into a regular file: one GET for small objects, concurrent ranged GETs into a preallocated
temp file for large ones, CRC-64 of the whole checked (and the object fetched again on a
mismatch), atomic rename, resumable with `checkpoint_dir`; nothing left behind on failure.

In order (`iter_ranges`: a writer, a pipe, a device, the caller's iterator, bytes in memory):
ranges are fetched concurrently into a reorder window of `concurrency + 1` ranges and handed
over in order, so memory stays bounded by configuration whatever the object's size.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp

from ..errors import IntegrityError, PreconditionError, ProtocolError
from ..models import TransferredObject
from ..protocol import planning
from ..protocol.crc64 import crc64, crc64_combine, crc64_combine_all
from ..protocol.keys import local_path_for
from ..protocol.syncplan import PathFilter
from ..protocol.xml import ListEntry
from . import _files, _resume
from ._client import ObjectMeta, OssClient
from ._common import Outcome, Pipeline, Progress, run_pool
from ._target import ObjectTarget, Target, UrlTarget, meta_from_range_reply

log = logging.getLogger("agentbay_oss.aio")
T = TypeVar("T")

SMALL_INLINE = 1 << 20  # bodies up to this size are kept in memory and written in one hop
BATCH = 2 << 20  # bytes of response chunks gathered before one pwritev + CRC thread hop


async def create_temp(dest: Path, size: int) -> tuple[int, Path]:
    """`_files.create_temp` off the loop; if we are cancelled meanwhile, the file the thread
    still creates is removed before the cancellation propagates (no stray temp files)."""
    fut = asyncio.ensure_future(asyncio.to_thread(_files.create_temp, dest, size))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        while not fut.done():
            try:
                await asyncio.shield(fut)
            except asyncio.CancelledError:
                continue
            except Exception:
                break
        if not fut.cancelled() and fut.exception() is None:
            _files.discard_temp(*fut.result())
        raise


class WholeCrcMismatch(IntegrityError):
    """The ranges of an object combine to the wrong CRC64 (some range was corrupted)."""


def whole_crc(target: Target, meta: ObjectMeta, ranges: Iterable[tuple[int, int]]) -> int:
    """The CRC-64 of (crc, length) ranges in order, checked against the object's."""
    crc = crc64_combine_all(ranges)
    if meta.crc64 is not None and crc != meta.crc64:
        raise WholeCrcMismatch(
            f"GET {target.where}: CRC64 of the downloaded bytes ({crc}) differs from "
            f"the object's ({meta.crc64})",
            hint="download again; nothing was written to the destination",
        )
    return crc


async def wait_uncancellable(fut: asyncio.Future[T]) -> None:
    """Let a worker-thread write finish before its fd can be closed, even when cancelled."""
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:
            break
    if cancelled:
        raise asyncio.CancelledError


@dataclass
class Cursor:
    """How far a streamed body has been written (and its CRC-64 so far): where a retry of a
    one-stream download resumes."""

    pos: int = 0
    crc: int = 0

    def advance(self, n: int, crc: int) -> None:
        self.crc = crc64_combine(self.crc, crc, n)
        self.pos += n


async def stream_to_fd(
    resp: aiohttp.ClientResponse,
    fd: int,
    offset: int,
    length: int | None,
    where: str,
    cursor: Cursor | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write a response body at `offset` in batches; (bytes, CRC64). Checks the length.
    With a `cursor`, each batch advances it once written (and `progress` hears of it).

    The loop thread only reads: a batch's pwritev and CRC-64 run in one worker-thread hop
    (both release the GIL) while the loop reads the next batch; one batch in flight. At
    concurrency 1 the loop thread is the bottleneck (measured: CRC on the loop was a tenth
    of its time). `iter_chunks`, not `iter_any`: iter_any joins the chunks buffered since
    the last read into a new bytes, a copy of much of the body into fresh pages.
    """
    loop = asyncio.get_running_loop()
    crc = got = 0
    pos = offset
    batch: list[bytes] = []
    batch_bytes = 0
    inflight: asyncio.Future[int] | None = None
    inflight_bytes = 0

    async def landed() -> None:
        nonlocal inflight, crc
        assert inflight is not None
        batch_crc = await inflight
        inflight = None
        crc = crc64_combine(crc, batch_crc, inflight_bytes)
        if cursor is not None:
            cursor.advance(inflight_bytes, batch_crc)
            if progress is not None:
                await progress.add_bytes(inflight_bytes, where)

    async def send() -> None:
        nonlocal inflight, inflight_bytes, pos, batch, batch_bytes
        if inflight is not None:
            await landed()
        inflight = loop.run_in_executor(None, _files.write_chunks, fd, batch, pos, 0)
        inflight_bytes = batch_bytes
        pos += batch_bytes
        batch, batch_bytes = [], 0

    try:
        async for chunk, _ in resp.content.iter_chunks():
            got += len(chunk)
            if length is not None and got > length:
                raise IntegrityError(f"{where}: the server sent more bytes than announced")
            batch.append(chunk)
            batch_bytes += len(chunk)
            if batch_bytes >= BATCH:
                await send()
        if batch:
            await send()
        if inflight is not None:
            await landed()
    finally:
        if inflight is not None and not inflight.done():
            await wait_uncancellable(inflight)
    if length is not None and got != length:
        raise IntegrityError(f"{where}: body cut short ({got} of {length} bytes)")
    return got, crc


def _range_headers(offset: int, length: int, etag: str) -> dict[str, str]:
    headers = {"Range": planning.range_header(offset, length)}
    if etag:
        headers["If-Match"] = etag  # the object must not change between ranges
    return headers


def _check_range_status(status: int, offset: int, length: int, total: int, where: str) -> None:
    if status == 200 and not (offset == 0 and length == total):
        raise ProtocolError(f"{where}: the server ignored the Range header")


async def _fetch_range_to_fd(
    target: Target, fd: int, offset: int, length: int, meta: ObjectMeta
) -> int:
    where = f"GET {target.where} bytes {offset}-{offset + length - 1}"
    headers = _range_headers(offset, length, meta.etag)

    async def op() -> int:
        async with target.request("GET", headers=headers, ok=(200, 206)) as r:
            _check_range_status(r.status, offset, length, meta.size, where)
            _, crc = await stream_to_fd(r, fd, offset, length, where)
            return crc

    return await target.retry(op, where)


# ---------------------------------------------------------------------------- into a file


@dataclass
class Probe:
    """What the first ranged GET of a URL told: the object, and its first bytes."""

    meta: ObjectMeta
    head: bytes


async def download_ranged(
    target: Target,
    dest: Path,
    meta: ObjectMeta,
    progress: Progress,
    head: bytes = b"",
) -> int:
    """Concurrent ranged GETs into a preallocated temp file; returns the CRC64.

    `head`: the object's first bytes, already fetched (by a URL probe)."""
    cfg = target.core.config
    # Ranges grow like parts (<= 10,000 of them): bookkeeping stays small for huge objects.
    range_size = planning.part_size_for(meta.size, cfg.part_size)
    ranges = ([(0, len(head))] if head else []) + [
        (off + len(head), n) for off, n in planning.plan_ranges(meta.size - len(head), range_size)
    ]
    resume = await _resume.resume_download(target, dest, meta, range_size)
    if resume is not None and resume.fd is not None:
        fd, tmp = resume.fd, Path(resume.record.temp_path)
        done = {off: (r.crc64, r.length) for off, r in resume.done.items()}
        await progress.add_bytes(sum(n for _, n in done.values()), target.where)
    else:
        fd, tmp = await create_temp(dest, meta.size)
        done = {}
    owned = True
    try:
        if resume is not None and not resume.record.temp_path:
            resume.record.temp_path = str(tmp)
            await resume.checkpointer.save()
        if head and 0 not in done:
            done[0] = (await asyncio.to_thread(_files.write_chunks, fd, [head], 0, 0), len(head))
            await progress.add_bytes(len(head), target.where)

        async def fetch(piece: tuple[int, int]) -> None:
            off, length = piece
            crc = await _fetch_range_to_fd(target, fd, off, length, meta)
            done[off] = (crc, length)
            if resume is not None:
                await resume.range_done(off, length, crc)
            await progress.add_bytes(length, target.where)

        await run_pool([r for r in ranges if r[0] not in done], cfg.concurrency, fetch)
        crc = whole_crc(target, meta, (done[off] for off, _ in ranges))
        owned = False
        await asyncio.to_thread(_files.finish_temp, fd, tmp, dest, meta.source_mtime_ns)
    except BaseException as exc:
        if owned:
            keep = resume is not None and resume.checkpointer.saved
            if keep and not isinstance(exc, (WholeCrcMismatch, PreconditionError)):
                os.close(fd)  # keep the temp file and the record for the rerun
            else:
                _files.discard_temp(fd, tmp)  # two quick syscalls: done before we propagate
                if resume is not None:
                    await resume.drop()
        raise
    if resume is not None:
        await resume.drop()
    return crc


async def stream_to_temp(
    r: aiohttp.ClientResponse,
    dest: Path,
    length: int | None,
    server_crc: int | None,
    where: str,
    mtime_ns: int | None,
) -> tuple[int, int]:
    fd, tmp = await create_temp(dest, length or 0)
    owned = True
    try:
        size, crc = await stream_to_fd(r, fd, 0, length, where)
        if server_crc is not None and crc != server_crc:
            raise IntegrityError(f"{where}: CRC64 mismatch ({crc} vs {server_crc})")
        owned = False
        await asyncio.to_thread(_files.finish_temp, fd, tmp, dest, mtime_ns)
    except BaseException:
        if owned:
            _files.discard_temp(fd, tmp)
        raise
    return size, crc


@dataclass
class _Received:
    """A whole-object answer: streamed into `dest` already, or (small) kept in `inline`, to
    be written after the request slot is released (disk time idles no slot)."""

    size: int
    crc: int
    inline: bytes | None = None
    server_crc: int | None = None


async def _receive_whole(
    r: aiohttp.ClientResponse, dest: Path, meta: ObjectMeta, where: str
) -> _Received:
    length = r.content_length
    server_crc = meta.crc64
    if length is not None and length <= SMALL_INLINE:
        body = await r.read()
        if len(body) != length:
            raise IntegrityError(f"{where}: body cut short ({len(body)} of {length})")
        return _Received(len(body), 0, body, server_crc)
    return _Received(
        *await stream_to_temp(r, dest, length, server_crc, where, meta.source_mtime_ns)
    )


async def _finish_whole(
    target: Target, got: _Received, dest: Path, meta: ObjectMeta, where: str
) -> int:
    """The CRC-64 of a received whole object, written to `dest` if it was kept in memory."""
    if got.inline is None:
        return got.crc
    return await target.core.hops.call(
        _files.write_small, dest, [got.inline], got.server_crc, where, meta.source_mtime_ns
    )


async def download_single(
    target: Target, dest: Path, etag: str, progress: Progress
) -> tuple[int, ObjectMeta, int]:
    """One GET: (size, meta, crc). Small bodies in memory, others streamed to a temp file."""
    where = f"GET {target.where}"
    headers = {"If-Match": etag} if etag else {}

    async def op() -> tuple[int, ObjectMeta, int]:
        async with target.request("GET", headers=headers) as r:
            meta = ObjectMeta.from_headers(r.headers, r.content_length or 0)
            got = await _receive_whole(r, dest, meta, where)
        return got.size, meta, await _finish_whole(target, got, dest, meta, where)

    size, meta, crc = await target.retry(op, where)
    await progress.add_bytes(size, target.where)
    return size, meta, crc


async def probe_url(
    target: UrlTarget, dest_for: Callable[[Mapping[str, str]], Path], progress: Progress
) -> tuple[Path, Probe] | TransferredObject:
    """The first GET of a URL asks for the first range. A 206 tells size, ETag and CRC (the
    rest then comes in ranges); a 200 is the whole object, received here."""
    where = f"GET {target.where}"
    first_len = target.core.config.part_size

    async def op() -> tuple[Path, Probe] | TransferredObject:
        headers = {"Range": f"bytes=0-{first_len - 1}"}
        async with target.request("GET", headers=headers, ok=(200, 206)) as r:
            dest = dest_for(r.headers)
            if r.status == 206:
                meta, expected = meta_from_range_reply(r.headers, where)
                body = await r.read()
                if len(body) != expected:
                    raise IntegrityError(f"{where}: body cut short")
                return dest, Probe(meta, body)
            meta = ObjectMeta.from_headers(r.headers, r.content_length or 0)
            got = await _receive_whole(r, dest, meta, where)
        crc = await _finish_whole(target, got, dest, meta, where)
        return _whole(target, dest, got.size, meta, crc)

    got = await target.retry(op, where)
    if isinstance(got, TransferredObject):
        progress.files_total, progress.bytes_total = 1, got.size
        await progress.add_bytes(got.size, target.where)
    else:
        progress.files_total, progress.bytes_total = 1, got[1].meta.size
    return got


def _whole(target: Target, dest: Path, size: int, meta: ObjectMeta, crc: int) -> TransferredObject:
    return TransferredObject(
        key=target.where,
        size=size,
        etag=meta.etag,
        crc64=crc,
        local_path=str(dest),
        content_type=meta.content_type,
        metadata=dict(meta.metadata),
    )


async def download_streamed(
    target: Target, dest: Path, meta: ObjectMeta, progress: Progress
) -> int:
    """At concurrency 1 ranges buy no parallelism, only a request gap per range: one GET
    streams the whole object into the temp file, and a retry resumes where the bytes
    written so far end (Range: bytes=N-), not from the start. Returns the CRC-64."""
    where = f"GET {target.where}"
    fd, tmp = await create_temp(dest, meta.size)
    cursor = Cursor()
    owned = True
    try:

        async def op() -> None:
            start = cursor.pos
            headers = _range_headers(start, meta.size - start, meta.etag)
            async with target.request("GET", headers=headers, ok=(200, 206)) as r:
                _check_range_status(r.status, start, meta.size - start, meta.size, where)
                await stream_to_fd(r, fd, start, meta.size - start, where, cursor, progress)

        await target.retry(op, where)
        if meta.crc64 is not None and cursor.crc != meta.crc64:
            raise WholeCrcMismatch(
                f"{where}: CRC64 of the downloaded bytes ({cursor.crc}) differs from the "
                f"object's ({meta.crc64})",
                hint="download again; nothing was written to the destination",
            )
        owned = False
        await asyncio.to_thread(_files.finish_temp, fd, tmp, dest, meta.source_mtime_ns)
    except BaseException:
        if owned:
            _files.discard_temp(fd, tmp)
        raise
    return cursor.crc


async def download_object(
    target: Target,
    dest: Path,
    progress: Progress,
    meta: ObjectMeta | None = None,
    size_hint: int | None = None,
    etag_hint: str = "",
    probe: Probe | None = None,
) -> TransferredObject:
    """One object into the file `dest` (a URL target comes with its `probe`)."""
    cfg = target.core.config
    threshold = cfg.multipart_threshold
    if probe is not None:
        meta = probe.meta
    elif (
        isinstance(target, ObjectTarget)
        and meta is None
        and (size_hint is None or size_hint >= threshold)
    ):
        meta = await target.head()
    if meta is not None and (probe is not None or meta.size >= threshold) and meta.size > 0:
        # Ranges carry no CRC of their own: a mismatch of the whole is only seen at the end,
        # and then the whole object is fetched again (bounded by max_retries).
        attempt = 0
        head = probe.head if probe is not None else b""
        # One stream at concurrency 1, unless checkpoints want ranges to resume from (or a
        # URL probe has fetched the first range already).
        one_stream = cfg.concurrency == 1 and cfg.checkpoint_dir is None and not head
        while True:
            done_before = progress.bytes_done
            try:
                if one_stream:
                    crc: int = await download_streamed(target, dest, meta, progress)
                else:
                    crc = await download_ranged(target, dest, meta, progress, head)
                break
            except WholeCrcMismatch:
                if attempt >= cfg.max_retries:
                    raise
                attempt += 1
                head = b""  # the first bytes may be the damaged ones
                progress.bytes_done = done_before
                log.debug("CRC64 mismatch on %s; fetching it again", target.where)
        size = meta.size
    else:
        size, got, crc = await download_single(
            target, dest, meta.etag if meta else etag_hint, progress
        )
        meta = meta or got
    await progress.file_done(target.where)
    obj = _whole(target, dest, size, meta, crc)
    if isinstance(target, ObjectTarget):
        obj.key = target.key
    return obj


# ---------------------------------------------------------------------------- in order


async def _fetch_range_in_memory(
    target: Target, offset: int, length: int, meta: ObjectMeta
) -> tuple[list[bytes], int]:
    where = f"GET {target.where} bytes {offset}-{offset + length - 1}"
    headers = _range_headers(offset, length, meta.etag)

    async def op() -> tuple[list[bytes], int]:
        chunks: list[bytes] = []
        got = crc = 0
        async with target.request("GET", headers=headers, ok=(200, 206)) as r:
            _check_range_status(r.status, offset, length, meta.size, where)
            async for chunk in r.content.iter_any():
                got += len(chunk)
                if got > length:
                    raise IntegrityError(f"{where}: the server sent more bytes than announced")
                crc = crc64(chunk, crc)
                chunks.append(chunk)
        if got != length:
            raise IntegrityError(f"{where}: body cut short ({got} of {length} bytes)")
        return chunks, crc

    return await target.retry(op, where)


async def iter_ranges(
    target: Target, meta: ObjectMeta, offset: int, length: int, progress: Progress
) -> AsyncIterator[list[bytes]]:
    """The bytes [offset, offset + length) in order, as lists of chunks (one list a range).

    At most max(concurrency, 2) ranges are alive, the one the consumer holds included: the
    others are fetched meanwhile (at concurrency 1 the next range comes while the consumer
    works). A whole-object read ends with the CRC-64 check; the consumer has the bytes by
    then, so a mismatch can only be reported.
    """
    cfg = target.core.config
    range_size = planning.part_size_for(length, cfg.part_size)
    pieces = iter([(offset + o, n) for o, n in planning.plan_ranges(length, range_size)])
    window: list[asyncio.Task[tuple[list[bytes], int]]] = []

    def refill() -> None:
        while len(window) < max(cfg.concurrency, 2):
            piece = next(pieces, None)
            if piece is None:
                return
            window.append(asyncio.ensure_future(_fetch_range_in_memory(target, *piece, meta)))

    crc = 0
    try:
        refill()
        while window:
            chunks, piece_crc = await window[0]
            window.pop(0)
            n = sum(len(c) for c in chunks)
            crc = crc64_combine(crc, piece_crc, n)
            await progress.add_bytes(n, target.where)
            yield chunks
            del chunks  # handed over: the window may take its place
            refill()
    finally:
        # Read-ahead no longer wanted (early exit or failure): stop it and let it finish.
        for task in window:
            task.cancel()
        if window:
            await asyncio.wait(window)
            for task in window:
                if not task.cancelled():
                    task.exception()  # seen: no "exception was never retrieved" noise
    whole = offset == 0 and length == meta.size
    if whole and meta.crc64 is not None and crc != meta.crc64:
        raise IntegrityError(
            f"GET {target.where}: CRC64 of the bytes received ({crc}) differs from the "
            f"object's ({meta.crc64}); the consumer has received them",
            hint="discard what was written and download again",
        )


async def read_span(
    target: ObjectTarget, offset: int, length: int | None, progress: Progress
) -> list[bytes]:
    """Bytes [offset, offset + length) (None: to the end) of an object whose size the caller
    does not know, without a HEAD first: one GET for up to `part_size` bytes (a small object
    costs one request), its answer telling the size and ETag; the rest, if any, comes through
    `iter_ranges` pinned by that ETag. Standard range behaviour: an offset at or beyond the
    end is no bytes (416), never the whole object (OSS's default for a bad range)."""
    first = (
        target.core.config.part_size
        if length is None
        else min(length, target.core.config.part_size)
    )
    if first <= 0:
        await target.head()  # nothing to read; the object must still exist
        return []
    where = f"GET {target.where}"
    headers = {"Range": planning.range_header(offset, first), "x-oss-range-behavior": "standard"}

    async def op() -> tuple[ObjectMeta, int, list[bytes]] | None:
        async with target.request("GET", headers=headers, ok=(200, 206, 416)) as r:
            if r.status == 416:
                return None
            body = await r.read()
            if r.status == 206:
                start, end, total = _content_range(r.headers, where)
                if start != offset or total is None:
                    raise ProtocolError(f"{where}: unexpected Content-Range")
                expected = end - start + 1
            else:  # the whole object (a server without standard ranges): keep what was asked
                total = expected = r.content_length if r.content_length is not None else len(body)
            meta = ObjectMeta.from_headers(r.headers, total)
        if len(body) != expected:
            raise IntegrityError(f"{where}: body cut short ({len(body)} of {expected} bytes)")
        if r.status == 200:
            body = body[offset : offset + first]
        return meta, offset + len(body), [body] if body else []

    got = await target.retry(op, where)
    if got is None:
        return []
    meta, pos, chunks = got
    await progress.add_bytes(pos - offset, target.where)
    stop = meta.size if length is None else min(meta.size, offset + length)
    if pos < stop:
        async for more in iter_ranges(target, meta, pos, stop - pos, progress):
            chunks += more
    if offset == 0 and stop == meta.size and meta.crc64 is not None:
        crc = 0
        for c in chunks:
            crc = crc64(c, crc)
        if crc != meta.crc64:
            raise IntegrityError(
                f"{where}: CRC64 of the bytes received ({crc}) differs from the object's "
                f"({meta.crc64})",
                hint="read it again",
            )
    return chunks


def _content_range(headers: Mapping[str, str], where: str) -> tuple[int, int, int | None]:
    try:
        return planning.parse_content_range(headers.get("Content-Range", ""))
    except ValueError:
        raise ProtocolError(f"{where}: 206 without a valid Content-Range") from None


def clamp_range(meta: ObjectMeta, offset: int, length: int | None) -> tuple[int, int]:
    """(offset, length) of a read of `meta`'s object, checked."""
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must not be negative")
    if offset > meta.size:
        raise ValueError(f"offset {offset} is beyond the object's {meta.size} bytes")
    end = meta.size if length is None else min(meta.size, offset + length)
    return offset, end - offset


async def write_in_order(
    target: Target,
    meta: ObjectMeta,
    write: Callable[[list[bytes]], Awaitable[None]],
    progress: Progress,
    head: bytes = b"",
) -> int:
    """The whole object, in order, into `write` (a pipe, a device, a writer); returns the
    CRC-64, checked against the object's at the end (the bytes are written by then)."""
    crc = 0
    if head:
        await write([head])
        crc = crc64(head)
        await progress.add_bytes(len(head), target.where)
    rest = meta.size - len(head)
    async for chunks in iter_ranges(target, meta, len(head), rest, progress):
        await write(chunks)
        for c in chunks:
            crc = crc64(c, crc)
    if meta.crc64 is not None and crc != meta.crc64:
        raise IntegrityError(
            f"GET {target.where}: CRC64 of the bytes written ({crc}) differs from the "
            f"object's ({meta.crc64})",
            hint="the destination has received damaged bytes: download again",
        )
    return crc


async def download_to_stream_file(
    target: Target, path: Path, meta: ObjectMeta, progress: Progress, head: bytes = b""
) -> TransferredObject:
    """Into a character device or FIFO (`/dev/null`, a named pipe): written as a stream,
    never replaced by a temp-file rename."""
    fd = await asyncio.to_thread(_files.open_stream_dest, path)
    try:

        async def write(chunks: list[bytes]) -> None:
            await asyncio.to_thread(_files.write_all, fd, chunks)

        crc = await write_in_order(target, meta, write, progress, head)
    finally:
        os.close(fd)
    await progress.file_done(target.where)
    obj = _whole(target, path, meta.size, meta, crc)
    if isinstance(target, ObjectTarget):
        obj.key = target.key
    return obj


async def download_prefix(
    client: OssClient,
    bucket: str,
    prefix: str,
    root: Path,
    progress: Progress,
    outcome: Outcome,
    chosen: PathFilter | None = None,
) -> None:
    await asyncio.to_thread(_files.make_dirs, root)
    progress.totals_final = False

    async def produce() -> AsyncIterator[ListEntry]:
        async for page in client.iter_list(bucket, prefix):
            for entry in page.entries:
                if chosen is not None and chosen.active and not chosen(entry.key[len(prefix) :]):
                    continue
                if not entry.key.endswith("/"):
                    progress.files_total += 1
                    progress.bytes_total += entry.size
                yield entry
        progress.totals_final = True

    async def handle(entry: ListEntry) -> None:
        dest = local_path_for(root, entry.key, prefix)
        if entry.key.endswith("/"):
            await asyncio.to_thread(_files.make_dirs, dest)
            await outcome.add(TransferredObject(key=entry.key, size=0, local_path=str(dest)))
            return
        target = ObjectTarget(client, bucket, entry.key)
        obj = await download_object(
            target, dest, progress, size_hint=entry.size, etag_hint=entry.etag
        )
        await outcome.add(obj)

    pipe = Pipeline(client.core.config.concurrency * 2, handle, "download", outcome)
    await pipe.run(produce, lambda e: f"oss://{bucket}/{e.key}")
