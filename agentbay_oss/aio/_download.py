"""Download engine: one GET for small objects, concurrent ranged GETs into a preallocated temp
file for large ones; CRC64 checked; atomic rename; nothing left behind on failure."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import aiohttp

from .._writes import pwrite_all
from ..errors import IntegrityError, PreconditionError, ProtocolError
from ..models import TransferredObject
from ..protocol import planning
from ..protocol.crc64 import crc64, crc64_combine_all
from ..protocol.keys import local_path_for
from ..protocol.xml import ListEntry
from . import _files, _resume
from ._client import ObjectMeta, OssClient, header_crc
from ._common import Outcome, Pipeline, Progress, run_pool

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


async def stream_to_fd(
    resp: aiohttp.ClientResponse, fd: int, offset: int, length: int | None, where: str
) -> tuple[int, int]:
    """Write a response body at `offset` in batches; (bytes, CRC64). Checks the length.

    The CRC runs on the loop as chunks arrive (microseconds per chunk, and the bytes are
    still in cache); worker threads only pwritev. Each worker-thread CRC call would release
    and retake the GIL once per chunk while the loop holds it: profiles showed the writers
    waiting on the GIL more than working. The next batch is read while one is written.
    """
    crc = 0
    got = 0
    pos = offset
    batch: list[bytes] = []
    batch_bytes = 0
    inflight: asyncio.Future[None] | None = None
    try:
        async for chunk in resp.content.iter_any():
            got += len(chunk)
            if length is not None and got > length:
                raise IntegrityError(f"{where}: the server sent more bytes than announced")
            crc = crc64(chunk, crc)
            batch.append(chunk)
            batch_bytes += len(chunk)
            if batch_bytes >= BATCH:
                if inflight is not None:
                    await inflight
                inflight = asyncio.ensure_future(asyncio.to_thread(pwrite_all, fd, batch, pos))
                pos += batch_bytes
                batch, batch_bytes = [], 0
        if batch:
            if inflight is not None:
                await inflight
            inflight = asyncio.ensure_future(asyncio.to_thread(pwrite_all, fd, batch, pos))
        if inflight is not None:
            await inflight
            inflight = None
    finally:
        if inflight is not None and not inflight.done():
            await wait_uncancellable(inflight)
    if length is not None and got != length:
        raise IntegrityError(f"{where}: body cut short ({got} of {length} bytes)")
    return got, crc


async def _fetch_range(
    client: OssClient,
    bucket: str,
    key: str,
    fd: int,
    offset: int,
    length: int,
    total: int,
    etag: str,
) -> int:
    where = f"GET oss://{bucket}/{key} bytes {offset}-{offset + length - 1}"
    headers = {"Range": planning.range_header(offset, length)}
    if etag:
        headers["If-Match"] = etag

    async def op() -> int:
        async with (
            client.core.slot(),
            client.open("GET", bucket, key, headers=headers, ok=(200, 206)) as r,
        ):
            if r.status == 200 and not (offset == 0 and length == total):
                raise ProtocolError(f"{where}: the server ignored the Range header")
            _, crc = await stream_to_fd(r, fd, offset, length, where)
            return crc

    return await client.retry(op, where)


async def download_ranged(
    client: OssClient,
    bucket: str,
    key: str,
    dest: Path,
    meta: ObjectMeta,
    progress: Progress,
) -> int:
    """Concurrent ranged GETs into a preallocated temp file; returns the CRC64."""
    cfg = client.core.config
    # Ranges grow like parts (<= 10,000 of them): bookkeeping stays small for huge objects.
    range_size = planning.part_size_for(meta.size, cfg.part_size)
    ranges = planning.plan_ranges(meta.size, range_size)
    resume = await _resume.resume_download(client, bucket, key, dest, meta, range_size)
    if resume is not None and resume.fd is not None:
        fd, tmp = resume.fd, Path(resume.record.temp_path)
        done = {off: (r.crc64, r.length) for off, r in resume.done.items()}
        await progress.add_bytes(sum(n for _, n in done.values()), key)
    else:
        fd, tmp = await create_temp(dest, meta.size)
        done = {}
    owned = True
    try:
        if resume is not None and not resume.record.temp_path:
            resume.record.temp_path = str(tmp)
            await resume.checkpointer.save()

        async def fetch(piece: tuple[int, int]) -> None:
            off, length = piece
            crc = await _fetch_range(client, bucket, key, fd, off, length, meta.size, meta.etag)
            done[off] = (crc, length)
            if resume is not None:
                await resume.range_done(off, length, crc)
            await progress.add_bytes(length, key)

        await run_pool([r for r in ranges if r[0] not in done], cfg.concurrency, fetch)
        crc = crc64_combine_all(done[off] for off, _ in ranges)
        if meta.crc64 is not None and crc != meta.crc64:
            raise WholeCrcMismatch(
                f"GET oss://{bucket}/{key}: CRC64 of the downloaded bytes ({crc}) differs from "
                f"the object's ({meta.crc64})",
                hint="download again; nothing was written to the destination",
            )
        owned = False
        await asyncio.to_thread(_files.finish_temp, fd, tmp, dest)
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


async def download_single(
    client: OssClient,
    bucket: str,
    key: str,
    dest: Path,
    etag: str,
    progress: Progress,
) -> tuple[int, str, int]:
    """One GET: (size, etag, crc). Small bodies in memory, others streamed to a temp file."""
    where = f"GET oss://{bucket}/{key}"
    headers = {"If-Match": etag} if etag else {}

    async def op() -> tuple[int, str, int]:
        async with client.core.slot(), client.open("GET", bucket, key, headers=headers) as r:
            length = r.content_length
            server_crc = header_crc(r.headers)
            got_etag = r.headers.get("ETag", etag)
            body = b""
            got = (0, 0)
            small = length is not None and length <= SMALL_INLINE
            if small:
                body = await r.read()
            else:
                got = await stream_to_temp(r, dest, length, server_crc, where)
        if small:
            # Written after the request slot is released: disk time does not idle a slot.
            if len(body) != length:
                raise IntegrityError(f"{where}: body cut short ({len(body)} of {length})")
            crc = await client.core.hops.call(_files.write_small, dest, [body], server_crc, where)
            return len(body), got_etag, crc
        return got[0], got_etag, got[1]

    size, got_etag, crc = await client.retry(op, where)
    await progress.add_bytes(size, key)
    return size, got_etag, crc


async def stream_to_temp(
    r: aiohttp.ClientResponse, dest: Path, length: int | None, server_crc: int | None, where: str
) -> tuple[int, int]:
    fd, tmp = await create_temp(dest, length or 0)
    owned = True
    try:
        size, crc = await stream_to_fd(r, fd, 0, length, where)
        if server_crc is not None and crc != server_crc:
            raise IntegrityError(f"{where}: CRC64 mismatch ({crc} vs {server_crc})")
        owned = False
        await asyncio.to_thread(_files.finish_temp, fd, tmp, dest)
    except BaseException:
        if owned:
            _files.discard_temp(fd, tmp)
        raise
    return size, crc


async def download_object(
    client: OssClient,
    bucket: str,
    key: str,
    dest: Path,
    progress: Progress,
    meta: ObjectMeta | None = None,
    size_hint: int | None = None,
    etag_hint: str = "",
) -> TransferredObject:
    threshold = client.core.config.multipart_threshold
    if meta is None and (size_hint is None or size_hint >= threshold):
        meta = await client.head(bucket, key)
    if meta is not None and meta.size >= threshold and meta.size > 0:
        # Ranges carry no CRC of their own: a mismatch of the whole is only seen at the end,
        # and then the whole object is fetched again (bounded by max_retries).
        attempt = 0
        while True:
            done_before = progress.bytes_done
            try:
                crc: int | None = await download_ranged(client, bucket, key, dest, meta, progress)
                break
            except WholeCrcMismatch:
                if attempt >= client.core.config.max_retries:
                    raise
                attempt += 1
                progress.bytes_done = done_before
                log.debug("CRC64 mismatch on oss://%s/%s; fetching it again", bucket, key)
        size, etag = meta.size, meta.etag
    else:
        size, etag, crc = await download_single(
            client, bucket, key, dest, meta.etag if meta else etag_hint, progress
        )
    await progress.file_done(key)
    return TransferredObject(key=key, size=size, etag=etag, crc64=crc, local_path=str(dest))


async def download_prefix(
    client: OssClient, bucket: str, prefix: str, root: Path, progress: Progress
) -> Outcome:
    await asyncio.to_thread(_files.make_dirs, root)
    outcome = Outcome()
    progress.totals_final = False

    async def produce() -> AsyncIterator[ListEntry]:
        async for page in client.iter_list(bucket, prefix):
            for entry in page.entries:
                if not entry.key.endswith("/"):
                    progress.files_total += 1
                    progress.bytes_total += entry.size
                yield entry
        progress.totals_final = True

    async def handle(entry: ListEntry) -> None:
        dest = local_path_for(root, entry.key, prefix)
        if entry.key.endswith("/"):
            await asyncio.to_thread(_files.make_dirs, dest)
            outcome.add(TransferredObject(key=entry.key, size=0, local_path=str(dest)))
            return
        obj = await download_object(
            client, bucket, entry.key, dest, progress, size_hint=entry.size, etag_hint=entry.etag
        )
        outcome.add(obj)

    pipe = Pipeline(client.core.config.concurrency * 2, handle, "download")
    await pipe.run(produce, lambda e: f"oss://{bucket}/{e.key}")
    outcome.errors = pipe.errors
    return outcome
