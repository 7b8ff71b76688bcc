"""Request bodies: small XML documents, small objects into memory, big ones to disk.

Big bodies stream to disk while hashing (MD5 + CRC64), off the event loop: the
loop only moves bytes from the socket into batches; one worker thread runs MD5
over each batch while another runs CRC64 and writes it (hashlib, fastcrc and
os.writev release the GIL on big buffers), and meanwhile the loop reads the next
batch: a pipeline with at most two batches of the upload in memory.

Every body is read from `ctx.body`, which a reset fault may have swapped for a
stream that drops mid-body (see `fault_seam`); nothing here knows about faults.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from .._writes import write_all
from ..protocol.crc64 import crc64
from .errors import OssError
from .faults import ServerStats
from .request import Body, Ctx
from .storage import Storage

BATCH_BYTES = 2 * 1024 * 1024
MAX_OBJECT_SIZE = 5 * 1024**3
MAX_XML_BODY = 8 * 1024 * 1024


# ---------------------------------------------------------------------------- whole bodies


async def drain(ctx: Ctx, stats: ServerStats) -> None:
    """Read and count a body nobody will use (CreateBucketConfiguration, a refused request)."""
    while chunk := await ctx.body.readany():
        stats.bytes_received += len(chunk)


def _too_big_xml() -> OssError:
    return OssError(
        400, "EntityTooLarge", f"An XML request body may be at most {MAX_XML_BODY} bytes."
    )


async def read_xml(ctx: Ctx, stats: ServerStats) -> bytes:
    """A request's XML document (at most MAX_XML_BODY bytes), its Content-MD5 checked."""
    length = ctx.request.content_length
    if length is not None and length > MAX_XML_BODY:
        raise _too_big_xml()
    chunks: list[bytes] = []
    total = 0
    while chunk := await ctx.body.readany():
        total += len(chunk)
        stats.bytes_received += len(chunk)
        if total > MAX_XML_BODY:
            raise _too_big_xml()
        chunks.append(chunk)
    body = b"".join(chunks)
    check_md5(ctx, hashlib.md5(body).digest())
    return body


def expected_md5(ctx: Ctx) -> bytes | None:
    """The Content-MD5 digest the client announced (InvalidDigest if malformed)."""
    value = ctx.headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise OssError(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid base64 of 16 bytes.",
        )
    return digest


def check_md5(ctx: Ctx, actual: bytes) -> None:
    expected = expected_md5(ctx)
    if expected is not None and expected != actual:
        raise OssError(
            400, "InvalidDigest", "The Content-MD5 you specified did not match what we received.",
            extra={"ContentMD5": ctx.headers.get("content-md5", ""),
                   "CalculatedMD5": base64.b64encode(actual).decode()},
        )  # fmt: skip


def object_body_length(ctx: Ctx) -> int | None:
    """The declared length of an object body (None: chunked); EntityTooLarge beyond 5 GiB."""
    length = ctx.body_length
    if length is not None and length > MAX_OBJECT_SIZE:
        raise OssError(
            400,
            "EntityTooLarge",
            f"Your proposed upload exceeds the maximum allowed size ({MAX_OBJECT_SIZE} bytes).",
        )
    return length


def _incomplete(size: int, expected: int) -> OssError:
    return OssError(
        400,
        "IncompleteBody",
        f"The request body has {size} bytes; Content-Length said {expected}.",
    )


async def receive_inline(ctx: Ctx, expected: int, stats: ServerStats) -> tuple[bytes, bytes, int]:
    """A small body (Content-Length <= INLINE_MAX) into memory: (data, md5, crc).

    Hashing a few KiB on the loop is cheaper than any thread hop.
    """
    expected_md5(ctx)  # reject a malformed header before reading the body
    body = ctx.body
    chunks: list[bytes] = []
    size = 0
    while chunk := await body.readany():
        size += len(chunk)
        stats.bytes_received += len(chunk)
        chunks.append(chunk)
    if size != expected:
        raise _incomplete(size, expected)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    md5 = hashlib.md5(data).digest()
    check_md5(ctx, md5)
    return data, md5, crc64(data)


async def receive_blob(
    ctx: Ctx, storage: Storage, executor: Executor, stats: ServerStats
) -> tuple[str, int, bytes, int]:
    """Stream the body into a new blob: (blob name, size, md5, crc)."""
    expected = object_body_length(ctx)
    expected_md5(ctx)  # reject a malformed header before reading the body
    got = await receive_body(
        ctx.body, storage.new_temp(), executor, stats, limit=MAX_OBJECT_SIZE, expected=expected
    )
    try:
        check_md5(ctx, got.md5)
    except OssError:
        got.temp.unlink(missing_ok=True)
        raise
    return storage.commit_blob(got.temp), got.size, got.md5, got.crc


# ---------------------------------------------------------------------------- streamed to disk


@dataclass
class ReceivedBody:
    temp: Path
    size: int
    md5: bytes
    crc: int


class _Sink:
    """MD5 on one lane, CRC64 + write on another: two threads per upload, each lane in order."""

    __slots__ = ("crc", "fd", "md5")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.md5 = hashlib.md5()
        self.crc = 0

    def hash_md5(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.md5.update(chunk)

    def crc_and_write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.crc = crc64(chunk, self.crc)
        write_all(self.fd, chunks)

    def consume(self, chunks: list[bytes]) -> None:
        self.hash_md5(chunks)
        self.crc_and_write(chunks)


async def receive_body(
    stream: Body,
    temp: Path,
    executor: Executor,
    stats: ServerStats,
    *,
    limit: int,
    expected: int | None,
) -> ReceivedBody:
    """Write the whole body to `temp`; on any failure the temp file is removed."""
    loop = asyncio.get_running_loop()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    sink = _Sink(fd)
    pending: list[asyncio.Future[None]] = []
    batch: list[bytes] = []
    batched = 0
    size = 0
    try:
        while True:
            chunk = await stream.readany()
            if not chunk:
                break
            size += len(chunk)
            stats.bytes_received += len(chunk)
            if size > limit:
                raise OssError(
                    400,
                    "EntityTooLarge",
                    f"Your proposed upload exceeds the maximum allowed size ({limit} bytes).",
                )
            batch.append(chunk)
            batched += len(chunk)
            if batched >= BATCH_BYTES:
                for fut in pending:
                    await fut
                pending = [
                    loop.run_in_executor(executor, sink.hash_md5, batch),
                    loop.run_in_executor(executor, sink.crc_and_write, batch),
                ]
                batch, batched = [], 0
        for fut in pending:
            await fut
        pending = []
        if batch:
            if batched < 256 * 1024:  # small tail: cheaper inline than a thread hop
                sink.consume(batch)
            else:
                await loop.run_in_executor(executor, sink.consume, batch)
        if expected is not None and size != expected:
            raise _incomplete(size, expected)
        os.close(fd)
        fd = -1
        return ReceivedBody(temp, size, sink.md5.digest(), sink.crc)
    except BaseException:
        for fut in pending:
            # Let the workers finish with the fd before closing it.
            with contextlib.suppress(BaseException):
                await asyncio.shield(fut)
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
