"""Upload engine: any source into any `Target`.

- A local file (`upload_file`): PutObject, or bounded concurrent multipart read with pread
  (resumable with `checkpoint_dir`, change detection). A URL target cannot do multipart (a
  presigned URL names one request), so a big file goes to it as one streamed PUT.
- Anything else (`upload_source`: bytes-like, file objects, sync or async iterables of unknown
  size): parts read in order by the workers, at most `concurrency` parts alive; a source that
  ends below `multipart_threshold` goes as one PutObject.
Every multipart upload is aborted on any failure (also on cancellation): none is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checkpoint import UploadCheckpoint
from ..errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SourceChangedError,
)
from ..models import TransferredObject
from ..protocol import planning
from ..protocol import xml as oxml
from ..protocol.crc64 import crc64, crc64_combine, crc64_combine_all
from ..protocol.keys import validate_key
from ..protocol.metadata import META_PREFIX, MTIME
from ..protocol.syncplan import PathFilter
from . import _files, _resume
from ._client import header_crc
from ._common import Outcome, Pipeline, Progress, gather_all, walk_tree
from ._sources import StreamSource
from ._target import Lease, ObjectTarget, Target

log = logging.getLogger("agentbay_oss.aio")
_background: set[asyncio.Task[None]] = set()

SEND_PIECE = 1024 * 1024
TINY = 256 * 1024  # files up to this size are read outside the request slot
STREAM_CHUNK = 4 << 20  # read size of a streamed PUT body


@dataclass
class PartDone:
    number: int
    size: int
    etag: str
    crc64: int


@dataclass
class Multipart:
    """One multipart upload: what a checkpoint needs to save and restore."""

    target: ObjectTarget
    upload_id: str
    part_size: int
    parts: dict[int, PartDone] = field(default_factory=dict)
    # Sent again with Complete: an object stored by someone else after Initiate is still
    # not replaced (OSS checks the header on both requests).
    forbid_overwrite: bool = False

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts.values())

    def combined_crc(self) -> int:
        return crc64_combine_all((p.crc64, p.size) for _, p in sorted(self.parts.items()))

    def complete_body(self) -> bytes:
        return oxml.build_complete_multipart((n, p.etag) for n, p in self.parts.items())


FORBID_OVERWRITE = "x-oss-forbid-overwrite"


def forbids_overwrite(headers: Mapping[str, str]) -> bool:
    return (headers.get(FORBID_OVERWRITE) or "").lower() == "true"


async def initiate(target: ObjectTarget, headers: Mapping[str, str]) -> str:
    _, _, body = await target.simple("POST", query=[("uploads", None)], headers=headers)
    return oxml.parse_initiate_multipart(body)


async def start_multipart(
    target: ObjectTarget, headers: Mapping[str, str], part_size: int
) -> Multipart:
    """InitiateMultipartUpload. Cancelled while the request is out, the upload may exist on
    the server already: its id is still awaited and the upload aborted, so none is orphaned."""
    task = asyncio.ensure_future(initiate(target, headers))
    forbid = forbids_overwrite(headers)
    try:
        return Multipart(target, await asyncio.shield(task), part_size, forbid_overwrite=forbid)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        if not task.cancelled() and task.exception() is None:
            await abort_shielded(Multipart(target, task.result(), part_size))
        raise


def body_pieces(
    data: bytes | memoryview, sent: Callable[[], None] | None = None
) -> AsyncIterator[memoryview]:
    """A part body in 1 MiB slices: aiohttp drains the socket between them, so the transport never
    copies a whole part into its own buffer (that copy doubled the memory per part). `sent` is
    called once the last slice is written (aiohttp asks for the next one only after that)."""

    async def gen() -> AsyncIterator[memoryview]:
        view = memoryview(data)
        for i in range(0, len(view), SEND_PIECE):
            yield view[i : i + SEND_PIECE]
        if sent is not None:
            sent()

    return gen()


async def send_part(
    lease: Lease, mp: Multipart, number: int, body: memoryview, crc: int
) -> PartDone:
    """PUT one part inside the caller's lease; checks the CRC-64 the server computed. The slot
    goes back once the body is on the wire, so the next part is sent while the server answers
    this one (at concurrency 1 that wait was a quarter of the time)."""
    query = [("partNumber", str(number)), ("uploadId", mp.upload_id)]
    async with lease.open(
        "PUT",
        query=query,
        headers={"Content-Length": str(len(body))},
        data=body_pieces(body, lease.release),
    ) as r:
        etag = r.headers.get("ETag", "")
        server_crc = header_crc(r.headers)
    if server_crc is not None and server_crc != crc:
        raise IntegrityError(
            f"PUT part {number} of {mp.target.where}: CRC64 mismatch (sent {crc}, got {server_crc})"
        )
    return PartDone(number, len(body), etag, crc)


async def _abort(mp: Multipart) -> None:
    try:
        await mp.target.simple("DELETE", query=[("uploadId", mp.upload_id)], ok=(200, 204))
        log.debug("aborted multipart upload of %s", mp.target.where)
    except NotFoundError:
        pass
    except Exception as exc:
        log.warning("abort multipart upload of %s failed: %s", mp.target.where, exc)


async def abort_shielded(mp: Multipart) -> None:
    """Abort even if we are being cancelled (no orphaned upload left on the server)."""
    task = asyncio.ensure_future(_abort(mp))
    _background.add(task)
    task.add_done_callback(_background.discard)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)


FROM_PARTS = -1


async def complete(mp: Multipart, expected: int | None = FROM_PARTS) -> str:
    """Complete; the object's CRC-64 must be `expected` (by default the parts' CRCs combined;
    a server-side copy passes the source's, None skips the check)."""
    target = mp.target
    where = f"complete multipart upload of {target.where}"
    body = mp.complete_body()
    size = mp.size
    if expected == FROM_PARTS:
        expected = mp.combined_crc()
    headers = {FORBID_OVERWRITE: "true"} if mp.forbid_overwrite else None
    tries = 0

    async def op() -> tuple[str, int | None]:
        nonlocal tries
        tries += 1
        query = [("uploadId", mp.upload_id)]
        try:
            async with target.request("POST", query=query, headers=headers, data=body) as r:
                reply = await r.read()
                etag = r.headers.get("ETag") or oxml.parse_complete_multipart(reply)
                return etag, header_crc(r.headers)
        except NotFoundError as exc:
            # An earlier try may have completed it and lost the reply: check the object.
            if tries > 1 and exc.code == "NoSuchUpload":
                meta = await target.head()
                if meta.crc64 == expected and meta.size == size:
                    return meta.etag, meta.crc64
            raise

    etag, server_crc = await target.retry(op, where)
    if server_crc is not None and expected is not None and server_crc != expected:
        # The upload is complete whatever the reply said: a reply damaged on the way is told
        # apart from a damaged object by asking for the stored object's CRC again.
        for _ in range(target.core.config.max_retries):
            meta = await target.head()
            if meta.crc64 == expected and meta.size == size:
                return etag
            server_crc = meta.crc64
        raise IntegrityError(
            f"{where}: CRC64 of the stored object ({server_crc}) differs from the parts sent "
            f"({expected})",
            hint="upload again",
        )
    return etag


def _check_crc(headers: Mapping[str, str], crc: int, where: str) -> None:
    server = header_crc(headers)
    if server is not None and server != crc:
        raise IntegrityError(f"{where}: CRC64 mismatch (sent {crc}, server has {server})")


async def put_bytes(
    lease: Lease,
    target: Target,
    data: bytes | memoryview,
    md5: str,
    crc: int,
    headers: Mapping[str, str],
) -> str:
    """One PutObject of bytes in memory, inside the caller's lease; returns the ETag."""
    h = dict(headers)
    if target.signed:  # a presigned URL was signed without it: adding it would break it
        h["Content-MD5"] = md5
    body: Any = data
    if len(data) > SEND_PIECE:  # as parts go: 1 MiB slices (aiohttp warns on big raw bytes)
        h["Content-Length"] = str(len(data))
        body = body_pieces(data)
    async with lease.open("PUT", headers=h, data=body) as r:
        _check_crc(r.headers, crc, f"PUT {target.where}")
        return r.headers.get("ETag", "")


# ---------------------------------------------------------------------------- local files


async def upload_file(
    target: Target,
    path: str,
    info: _files.SourceInfo | None,
    progress: Progress,
    body: _files.SmallBody | None = None,
    headers: Mapping[str, str] | None = None,
) -> TransferredObject:
    known = info if info is not None else (await asyncio.to_thread(_files.stat_source, path))[1]
    h = dict(headers or {})
    if target.signed:  # for downloads and sync to restore; a presigned URL was signed without
        h.setdefault(META_PREFIX + MTIME, str(known.mtime_ns))
    big = known.size >= target.core.config.multipart_threshold and known.size > 0
    if big and isinstance(target, ObjectTarget):
        obj = await put_multipart(target, path, progress, h)
    elif big:
        obj = await put_streamed(target, path, known, progress)
    else:
        obj = await put_small(target, path, known, progress, body, h)
    obj.local_path = path
    obj.content_type = h.get("Content-Type", "")
    await progress.file_done(obj.key)
    return obj


def _key_of(target: Target) -> str:
    return target.key if isinstance(target, ObjectTarget) else target.where


async def put_small(
    target: Target,
    path: str,
    info: _files.SourceInfo,
    progress: Progress,
    body: _files.SmallBody | None,
    headers: Mapping[str, str],
) -> TransferredObject:
    tiny = info.size <= TINY  # (a walker's body is always tiny)

    async def op() -> tuple[str, int, int]:
        if body is not None:  # read by the directory walker
            data, md5, crc = body.data, body.md5, body.crc
        elif tiny:  # read before taking a request slot: disk time does not idle a slot
            data, md5, crc, _ = await target.core.hops.call(_files.read_whole, path, info)
        async with target.lease() as lease:
            if not tiny:  # bigger bodies are read inside the slot, so memory stays bounded
                data, md5, crc, _ = await asyncio.to_thread(_files.read_whole, path, info)
            etag = await put_bytes(lease, target, data, md5, crc, headers)
        return etag, crc, len(data)

    etag, crc, size = await target.retry(op, f"PUT {target.where}")
    progress.bytes_done += size
    return TransferredObject(key=_key_of(target), size=size, etag=etag, crc64=crc)


async def put_streamed(
    target: Target, path: str, info: _files.SourceInfo, progress: Progress
) -> TransferredObject:
    """A big file in one streamed PUT (URL targets: they cannot do multipart)."""

    async def op() -> tuple[str, int]:
        crc_box = [0]
        async with target.lease() as lease:
            fd, now = await asyncio.to_thread(_files.open_source, path)
            try:
                if now != info:
                    raise SourceChangedError(f"{path} changed before it could be uploaded")
                body = _file_stream(fd, info.size, path, crc_box)
                h = {"Content-Length": str(info.size)}
                async with lease.open("PUT", headers=h, data=body) as r:
                    _check_crc(r.headers, crc_box[0], f"PUT {target.where}")
                    return r.headers.get("ETag", ""), crc_box[0]
            finally:
                os.close(fd)

    etag, crc = await target.retry(op, f"PUT {target.where}")
    await progress.add_bytes(info.size, target.where)
    return TransferredObject(key=_key_of(target), size=info.size, etag=etag, crc64=crc)


async def _file_stream(fd: int, size: int, path: str, crc_box: list[int]) -> AsyncIterator[bytes]:
    """File bytes in big chunks, the next one read (off the loop) while this one is sent."""
    pos = 0
    crc = 0
    nxt = asyncio.ensure_future(
        asyncio.to_thread(_files.read_part, fd, 0, min(STREAM_CHUNK, size), path)
    )
    try:
        while pos < size:
            data, c = await nxt
            pos += len(data)
            crc = crc64_combine(crc, c, len(data))
            if pos < size:
                nxt = asyncio.ensure_future(
                    asyncio.to_thread(
                        _files.read_part, fd, pos, min(STREAM_CHUNK, size - pos), path
                    )
                )
            yield data
        crc_box[0] = crc
    finally:
        if not nxt.done():
            nxt.cancel()


async def put_multipart(
    target: ObjectTarget, path: str, progress: Progress, headers: Mapping[str, str]
) -> TransferredObject:
    cfg = target.core.config
    client, bucket, key = target.client, target.bucket, target.key
    fd, info = await asyncio.to_thread(_files.open_source, path)
    try:
        part_size = planning.part_size_for(info.size, cfg.part_size, planning.MAX_PARTS)
        where = await asyncio.to_thread(_resume.upload_checkpoint, client, bucket, key, path)
        resumed = None
        if where is not None:
            resumed = await _resume.resume_upload(
                client, *where, bucket, key, fd, path, info, part_size
            )
        if resumed is not None:
            mp = Multipart(
                target, resumed.upload_id, part_size, forbid_overwrite=forbids_overwrite(headers)
            )
            for n, (size, etag, crc) in resumed.parts.items():
                mp.parts[n] = PartDone(n, size, etag, crc)
            progress.bytes_done += mp.size
        else:
            mp = await start_multipart(target, headers, part_size)
        saver = None
        if where is not None:

            def record() -> UploadCheckpoint:
                parts = {n: (p.size, p.etag, p.crc64) for n, p in mp.parts.items()}
                return _resume.upload_record(
                    client.endpoint.base, bucket, key, path, info, part_size, mp.upload_id, parts
                )

            saver = _resume.Checkpointer(*where, record)
        try:
            if saver is not None:
                await saver.save()  # the upload id first: a crash from now on can resume
            await send_parts(mp, file_parts(mp, fd, path, info.size), progress, saver)
            now = await asyncio.to_thread(_files.fstat_info, fd)
            if now != info:
                raise SourceChangedError(
                    f"{path} changed while it was being uploaded (size or mtime)",
                    hint="nothing was stored; upload it again when it is stable",
                )
            etag = await complete(mp)
        except BaseException as exc:
            # With checkpoints an interrupted upload stays for the rerun, unless its source
            # changed (then it can never be completed).
            if saver is None or not saver.saved or isinstance(exc, SourceChangedError):
                await abort_shielded(mp)
                if saver is not None:
                    await saver.remove()
            raise
        if saver is not None:
            await saver.remove()
    finally:
        os.close(fd)
    return TransferredObject(key=key, size=info.size, etag=etag, crc64=mp.combined_crc())


@dataclass
class PartBody:
    """One part read and ready to send; `buffer` goes back to the session's pool after."""

    number: int
    body: memoryview
    crc: int
    buffer: bytearray | None = None


async def send_parts(
    mp: Multipart,
    parts: AsyncGenerator[PartBody, None],
    progress: Progress,
    saver: _resume.Checkpointer | None = None,
) -> None:
    """The one multipart driver: a reader task reads parts while `concurrency` workers send
    them. Reading overlaps sending, also at concurrency 1 (the next part is read while this
    one is on the wire); at most max(concurrency, 2) parts are alive."""
    target = mp.target
    core = target.core
    # Parts alive (read, queued, sending or awaiting their answer): `concurrency`, as many as
    # can be on the wire; 2 at concurrency 1, so the next part is read while this one is sent
    # and sent while this one's answer comes back (send_part hands its slot back early).
    workers = max(core.config.concurrency, 2)
    alive = asyncio.Semaphore(workers)
    queue: asyncio.Queue[PartBody | None] = asyncio.Queue(maxsize=1)

    async def reader() -> None:
        try:
            while True:
                await alive.acquire()
                part = await anext(parts, None)
                if part is None:
                    alive.release()
                    break
                await queue.put(part)
        finally:
            await parts.aclose()  # now, not at garbage collection (it may hold a file read)
        for _ in range(workers):
            await queue.put(None)

    async def worker() -> None:
        while (part := await queue.get()) is not None:

            async def op(part: PartBody = part) -> PartDone:
                async with target.lease() as lease:
                    return await send_part(lease, mp, part.number, part.body, part.crc)

            try:
                done = await target.retry(op, f"PUT part {part.number} of {target.where}")
            finally:
                if part.buffer is not None:
                    core.give_buffer(part.buffer)
                del part  # the bytes go now, before the next part may be read
                alive.release()
            mp.parts[done.number] = done
            if saver is not None:
                await saver.save()
            await progress.add_bytes(done.size, target.where)

    await gather_all([reader(), *(worker() for _ in range(workers))])


async def file_parts(
    mp: Multipart, fd: int, path: str, size: int
) -> AsyncGenerator[PartBody, None]:
    """The parts of a local file not yet sent, read with pread into reused buffers."""
    core = mp.target.core
    for part in planning.plan_parts(size, mp.part_size):
        if part.number in mp.parts:
            continue
        buf = core.take_buffer(part.size)
        read = asyncio.ensure_future(
            asyncio.to_thread(_files.read_part_into, fd, buf, part.offset, part.size, path)
        )
        # A read cut short by cancellation still runs in its thread: the fd must stay open
        # until it ends (the caller closes it), and its buffer is not reused.
        crc = await _wait_read(read)
        yield PartBody(part.number, memoryview(buf)[: part.size], crc, buf)


async def _wait_read(read: asyncio.Future[int]) -> int:
    try:
        return await asyncio.shield(read)
    except asyncio.CancelledError:
        while not read.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(read)
        if not read.cancelled():
            read.exception()
        raise


# ---------------------------------------------------------------------------- other sources


async def upload_source(
    target: ObjectTarget, source: StreamSource, progress: Progress, headers: Mapping[str, str]
) -> TransferredObject:
    """Bytes of unknown size, read in order a part at a time. The first
    `multipart_threshold` bytes decide: a source that ends before them goes as one
    PutObject; else those parts open a multipart upload and the rest follow."""
    cfg = target.core.config
    part_size = source.part_size(cfg.part_size)
    first: list[PartBody] = []
    read = 0
    while read < max(cfg.multipart_threshold, 1):
        part = await read_part(target, source, len(first) + 1, part_size)
        if part is None:
            break
        first.append(part)
        read += len(part.body)
    if read < cfg.multipart_threshold or await source.at_end():
        return await _put_parts_whole(target, first, progress, headers)
    mp = await start_multipart(target, headers, part_size)
    try:
        await send_parts(mp, stream_parts(mp, source, first), progress)
        etag = await complete(mp)
    except BaseException:
        await abort_shielded(mp)
        raise
    await progress.file_done(target.key)
    return TransferredObject(key=target.key, size=mp.size, etag=etag, crc64=mp.combined_crc())


async def _put_parts_whole(
    target: ObjectTarget, parts: list[PartBody], progress: Progress, headers: Mapping[str, str]
) -> TransferredObject:
    """A short source (read as parts) as one PutObject."""
    data = parts[0].body if len(parts) == 1 else b"".join(p.body for p in parts)
    crc = crc64_combine_all((p.crc, len(p.body)) for p in parts)
    md5 = _files.md5_base64(data)

    async def op() -> str:
        async with target.lease() as lease:
            return await put_bytes(lease, target, data, md5, crc, headers)

    try:
        etag = await target.retry(op, f"PUT {target.where}")
    finally:
        for p in parts:
            if p.buffer is not None:
                target.core.give_buffer(p.buffer)
    await progress.add_bytes(len(data), target.where)
    await progress.file_done(target.key)
    return TransferredObject(key=target.key, size=len(data), etag=etag, crc64=crc)


async def read_part(
    target: Target, source: StreamSource, number: int, part_size: int
) -> PartBody | None:
    """The next part of `source` (None at its end). In-memory sources give views of their
    bytes; others are read into one of the session's reused part buffers (no extra copy of
    a part, no allocator growth)."""
    if number > planning.MAX_PARTS:
        raise InvalidInputError(
            f"the source is longer than {planning.MAX_PARTS} parts of {part_size} bytes",
            hint="raise TransferConfig.part_size",
        )
    buf: bytearray | None = None
    if source.in_memory:
        body = await source.read(part_size)
    else:
        core = target.core
        buf = core.take_buffer(part_size)
        try:
            body = memoryview(buf)[: await source.read_into(memoryview(buf)[:part_size])]
        except BaseException:
            core.give_buffer(buf)
            raise
    if not body:
        if buf is not None:
            target.core.give_buffer(buf)
        return None
    crc = await asyncio.to_thread(crc64, body) if len(body) > TINY else crc64(body)
    return PartBody(number, body, crc, buf)


async def stream_parts(
    mp: Multipart, source: StreamSource, first: list[PartBody]
) -> AsyncGenerator[PartBody, None]:
    """Parts of a source in order: first those read before the upload started."""
    for early in first:
        yield early
    number = len(first)
    while (part := await read_part(mp.target, source, number + 1, mp.part_size)) is not None:
        number += 1
        yield part


# ---------------------------------------------------------------------------- directories


async def upload_dir(
    target_for: Callable[[str], Target],
    root: str,
    progress: Progress,
    workers: int,
    outcome: Outcome,
    headers_for: Callable[[str], Mapping[str, str]] | None = None,
    chosen: PathFilter | None = None,
) -> None:
    """Every file below `root` to `target_for(relative path)`; empty directories become
    `rel/` markers (a relative path of "" is the root itself)."""

    async def handle(item: _files.WalkItem) -> None:
        if item.error:
            raise InvalidInputError(item.error, hint=item.hint)  # labelled with the path
        rel = "/".join(item.rel)
        if chosen is not None and chosen.active and not chosen(rel):
            return  # (filtered trees keep no empty-directory markers either)
        if item.is_dir_marker:
            target = target_for(rel + "/" if rel else "")
            if isinstance(target, ObjectTarget):
                if not target.key:
                    return  # an empty tree uploaded to the bucket root: nothing to record
                validate_key(target.key)
            elif not rel:
                return
            _, h, _ = await target.simple("PUT", data=b"")
            await outcome.add(
                TransferredObject(key=_key_of(target), size=0, etag=h.get("ETag", ""), crc64=0)
            )
            return
        target = target_for(rel)
        if isinstance(target, ObjectTarget):
            validate_key(target.key)
        info = _files.SourceInfo(item.size, item.mtime_ns)
        headers = headers_for(rel) if headers_for is not None and target.signed else None
        obj = await upload_file(target, item.path, info, progress, item.body, headers)
        await outcome.add(obj)

    pipe = Pipeline(workers, handle, "upload", outcome)
    await pipe.run(lambda: walk_tree(root, progress), lambda it: it.path)
