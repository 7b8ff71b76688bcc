"""Upload engine: PutObject for small files, bounded concurrent multipart for large ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

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
from ..protocol.crc64 import crc64_combine_all
from ..protocol.keys import dir_prefix, validate_key
from . import _files, _resume
from ._client import OssClient, header_crc
from ._common import Outcome, Pipeline, Progress, run_pool, walk_tree

log = logging.getLogger("agentbay_oss.aio")
_background: set[asyncio.Task[None]] = set()


@dataclass
class PartDone:
    number: int
    size: int
    etag: str
    crc64: int


@dataclass
class MultipartState:
    """Bookkeeping of one multipart upload: what a checkpoint needs to save and restore."""

    bucket: str
    key: str
    upload_id: str
    part_size: int
    source_size: int
    source_mtime_ns: int
    parts: dict[int, PartDone] = field(default_factory=dict)

    def combined_crc(self) -> int:
        return crc64_combine_all((p.crc64, p.size) for _, p in sorted(self.parts.items()))

    def complete_body(self) -> bytes:
        return oxml.build_complete_multipart((n, p.etag) for n, p in self.parts.items())


SEND_PIECE = 1024 * 1024
TINY = 256 * 1024  # files up to this size are read outside the request slot


async def body_pieces(data: bytes | memoryview) -> AsyncIterator[memoryview]:
    """A part body in 1 MiB slices: aiohttp drains the socket between them, so the transport never
    copies a whole part into its own buffer (that copy doubled the memory per part)."""
    view = memoryview(data)
    for i in range(0, len(view), SEND_PIECE):
        yield view[i : i + SEND_PIECE]


async def upload_file(
    client: OssClient,
    bucket: str,
    key: str,
    path: str,
    info: _files.SourceInfo | None,
    progress: Progress,
    body: _files.SmallBody | None = None,
) -> TransferredObject:
    known = info if info is not None else (await asyncio.to_thread(_files.stat_source, path))[1]
    if known.size >= client.core.config.multipart_threshold and known.size > 0:
        obj = await put_multipart(client, bucket, key, path, progress)
    else:
        obj = await put_small(client, bucket, key, path, known, progress, body)
    await progress.file_done(key)
    return obj


async def put_small(
    client: OssClient,
    bucket: str,
    key: str,
    path: str,
    info: _files.SourceInfo | None,
    progress: Progress,
    body: _files.SmallBody | None = None,
) -> TransferredObject:
    where = f"PUT oss://{bucket}/{key}"

    tiny = info is not None and info.size <= TINY  # (a walker's body is always tiny)

    async def op() -> tuple[str, int, int]:
        if body is not None:  # read by the directory walker
            data, md5, crc = body.data, body.md5, body.crc
        elif tiny:  # read before taking a request slot: disk time does not idle a slot
            data, md5, crc, _ = await client.core.hops.call(_files.read_whole, path, info)
        async with client.core.slot():
            if not tiny:  # bigger bodies are read inside the slot, so memory stays bounded
                data, md5, crc, _ = await asyncio.to_thread(_files.read_whole, path, info)
            async with client.open(
                "PUT", bucket, key, headers={"Content-MD5": md5}, data=data
            ) as r:
                etag = r.headers.get("ETag", "")
                server_crc = header_crc(r.headers)
        if server_crc is not None and server_crc != crc:
            raise IntegrityError(f"{where}: CRC64 mismatch (sent {crc}, server has {server_crc})")
        return etag, crc, len(data)

    etag, crc, size = await client.retry(op, where)
    progress.bytes_done += size
    return TransferredObject(key=key, size=size, etag=etag, crc64=crc, local_path=path)


async def _abort(client: OssClient, state: MultipartState) -> None:
    where = f"abort multipart upload of oss://{state.bucket}/{state.key}"
    try:
        await client.simple(
            "DELETE",
            state.bucket,
            state.key,
            query=[("uploadId", state.upload_id)],
            ok=(200, 204),
        )
        log.debug("aborted multipart upload of oss://%s/%s", state.bucket, state.key)
    except NotFoundError:
        pass
    except Exception as exc:
        log.warning("%s failed: %s", where, exc)


async def abort_shielded(client: OssClient, state: MultipartState) -> None:
    """Abort even if we are being cancelled (no orphaned upload left on the server)."""
    task = asyncio.ensure_future(_abort(client, state))
    _background.add(task)
    task.add_done_callback(_background.discard)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)


async def put_multipart(
    client: OssClient, bucket: str, key: str, path: str, progress: Progress
) -> TransferredObject:
    cfg = client.core.config
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
            state = MultipartState(
                bucket, key, resumed.upload_id, part_size, info.size, info.mtime_ns
            )
            for n, (size, etag, crc) in resumed.parts.items():
                state.parts[n] = PartDone(n, size, etag, crc)
            progress.bytes_done += sum(p.size for p in state.parts.values())
        else:
            _, _, body = await client.simple("POST", bucket, key, query=[("uploads", None)])
            state = MultipartState(
                bucket,
                key,
                oxml.parse_initiate_multipart(body),
                part_size,
                info.size,
                info.mtime_ns,
            )
        saver = None
        if where is not None:
            st = state

            def record() -> UploadCheckpoint:
                parts = {n: (p.size, p.etag, p.crc64) for n, p in st.parts.items()}
                return _resume.upload_record(
                    client.endpoint.base, bucket, key, path, info, part_size, st.upload_id, parts
                )

            saver = _resume.Checkpointer(*where, record)
        try:
            if saver is not None:
                await saver.save()  # the upload id first: a crash from now on can resume
            await _send_parts(client, state, fd, path, progress, saver)
            now = await asyncio.to_thread(_files.fstat_info, fd)
            if now != info:
                raise SourceChangedError(
                    f"{path} changed while it was being uploaded (size or mtime)",
                    hint="nothing was stored; upload it again when it is stable",
                )
            etag = await _complete(client, state)
        except BaseException as exc:
            # With checkpoints an interrupted upload stays for the rerun, unless its source
            # changed (then it can never be completed).
            if saver is None or not saver.saved or isinstance(exc, SourceChangedError):
                await abort_shielded(client, state)
                if saver is not None:
                    await saver.remove()
            raise
        if saver is not None:
            await saver.remove()
    finally:
        os.close(fd)
    return TransferredObject(
        key=key, size=info.size, etag=etag, crc64=state.combined_crc(), local_path=path
    )


async def _send_parts(
    client: OssClient,
    state: MultipartState,
    fd: int,
    path: str,
    progress: Progress,
    saver: _resume.Checkpointer | None = None,
) -> None:
    todo = [
        p
        for p in planning.plan_parts(state.source_size, state.part_size)
        if p.number not in state.parts
    ]

    async def send(part: planning.Part) -> None:
        where = f"PUT part {part.number} of oss://{state.bucket}/{state.key}"
        query = [("partNumber", str(part.number)), ("uploadId", state.upload_id)]

        async def op() -> PartDone:
            core = client.core
            async with core.slot():
                # Read inside the slot: at most `concurrency` part buffers exist per session.
                buf = core.take_buffer(part.size)
                reading = True
                try:
                    crc = await asyncio.to_thread(
                        _files.read_part_into, fd, buf, part.offset, part.size, path
                    )
                    reading = False
                    async with client.open(
                        "PUT",
                        state.bucket,
                        state.key,
                        query=query,
                        headers={"Content-Length": str(part.size)},
                        data=body_pieces(memoryview(buf)[: part.size]),
                    ) as r:
                        etag = r.headers.get("ETag", "")
                        server_crc = header_crc(r.headers)
                finally:
                    if not reading:  # a read cut short by cancellation may still be running
                        core.give_buffer(buf)
            if server_crc is not None and server_crc != crc:
                raise IntegrityError(f"{where}: CRC64 mismatch (sent {crc}, got {server_crc})")
            return PartDone(part.number, part.size, etag, crc)

        done = await client.retry(op, where)
        state.parts[part.number] = done
        if saver is not None:
            await saver.save()
        await progress.add_bytes(part.size, state.key)

    await run_pool(todo, client.core.config.concurrency, send)


async def _complete(client: OssClient, state: MultipartState) -> str:
    where = f"complete multipart upload of oss://{state.bucket}/{state.key}"
    body = state.complete_body()
    expected = state.combined_crc()
    tries = 0

    async def op() -> tuple[str, int | None]:
        nonlocal tries
        tries += 1
        try:
            async with (
                client.core.slot(),
                client.open(
                    "POST",
                    state.bucket,
                    state.key,
                    query=[("uploadId", state.upload_id)],
                    data=body,
                ) as r,
            ):
                reply = await r.read()
                etag = r.headers.get("ETag") or oxml.parse_complete_multipart(reply)
                return etag, header_crc(r.headers)
        except NotFoundError as exc:
            # An earlier try may have completed it and lost the reply: check the object.
            if tries > 1 and exc.code == "NoSuchUpload":
                meta = await client.head(state.bucket, state.key)
                if meta.crc64 == expected and meta.size == state.source_size:
                    return meta.etag, meta.crc64
            raise

    etag, server_crc = await client.retry(op, where)
    if server_crc is not None and server_crc != expected:
        # The upload is complete whatever the reply said: a reply damaged on the way is told
        # apart from a damaged object by asking for the stored object's CRC again.
        for _ in range(client.core.config.max_retries):
            meta = await client.head(state.bucket, state.key)
            if meta.crc64 == expected and meta.size == state.source_size:
                return etag
            server_crc = meta.crc64
        raise IntegrityError(
            f"{where}: CRC64 of the stored object ({server_crc}) differs from the parts sent "
            f"({expected})",
            hint="upload again",
        )
    return etag


# ---------------------------------------------------------------------------- directories


async def upload_dir(
    client: OssClient, bucket: str, object_key: str, root: str, progress: Progress
) -> Outcome:
    prefix = dir_prefix(object_key)
    outcome = Outcome()

    async def handle(item: _files.WalkItem) -> None:
        if item.error:
            raise InvalidInputError(item.error, hint=item.hint)  # labelled with the path
        rel = "/".join(item.rel)
        if item.is_dir_marker:
            key = prefix + rel + "/" if rel else prefix
            if not key:
                return  # an empty tree uploaded to the bucket root: nothing to record
            validate_key(key)
            _, h, _ = await client.simple("PUT", bucket, key, data=b"")
            outcome.add(TransferredObject(key=key, size=0, etag=h.get("ETag", ""), crc64=0))
            return
        key = prefix + rel
        validate_key(key)
        info = _files.SourceInfo(item.size, item.mtime_ns)
        obj = await upload_file(client, bucket, key, item.path, info, progress, item.body)
        outcome.add(obj)

    workers = client.core.config.concurrency * 2
    pipe = Pipeline(workers, handle, "upload")
    await pipe.run(lambda: walk_tree(root, progress), lambda it: it.path)
    outcome.errors = pipe.errors
    return outcome
