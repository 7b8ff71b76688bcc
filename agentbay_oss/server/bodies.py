"""Streaming request bodies to disk while hashing (MD5 + CRC64), off the event loop.

The loop only moves bytes from the socket into batches; one worker thread runs
MD5 over each batch while another runs CRC64 and writes it (hashlib, fastcrc and
os.writev release the GIL on big buffers), and meanwhile the loop reads the next
batch: a pipeline with at most two batches of the upload in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import StreamReader

from .._writes import write_all
from ..protocol.crc64 import crc64
from .errors import OssError
from .faults import ServerStats

BATCH_BYTES = 2 * 1024 * 1024


class InjectedReset(Exception):
    """The fault injector decided to drop this connection here."""


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
    stream: StreamReader,
    temp: Path,
    executor: Executor,
    stats: ServerStats,
    *,
    limit: int,
    expected: int | None,
    reset_at: int | None = None,
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
            if reset_at is not None and size >= reset_at:
                raise InjectedReset()
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
            raise OssError(
                400,
                "IncompleteBody",
                f"The request body has {size} bytes; Content-Length said {expected}.",
            )
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
