"""Object bytes out: the two answers a GET of an object returns, and how a stream is sent.

An inline object (or a range of it) goes out as `ObjectReply`, headers and body in
one send. Anything stored in blob files goes out as `ObjectStream`: the edge sends
its headers, then `send_object` streams the range (sendfile per segment; one pread
for small ranges). A fault may swap the body writer (`ObjectStream.writer`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import BinaryIO

from aiohttp import web

from .faults import ServerStats
from .request import Ctx
from .storage import ObjectRecord, Segment, Storage

SMALL_BODY = 64 * 1024

# (file or inline bytes, offset, count): where the bytes of a response body come from.
Plan = Sequence[tuple[BinaryIO | bytes, int, int]]
BodyWriter = Callable[[Ctx, web.StreamResponse, Plan, int], Awaitable[None]]


class ObjectReply(web.Response):
    """A GET answer carrying an inline object's bytes (whole or a range) in one send."""


class ObjectStream(web.StreamResponse):
    """A GET or HEAD answer for `length` bytes from `start` of an object's stored bytes (its
    blob segments, or inline `data`), sent by `send_object`. HEAD (`with_body` false) sends
    the headers only, Content-Length included."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        rec: ObjectRecord,
        start: int,
        length: int,
        with_body: bool,
    ) -> None:
        super().__init__(status=status, headers=headers)
        self.content_length = length
        self.segments: list[Segment] = rec.segments
        self.data = rec.data
        self.start = start
        self.length = length
        self.with_body = with_body
        self.writer: BodyWriter | None = None  # None: the plain, fast writer

    @classmethod
    def of_reply(cls, reply: ObjectReply) -> ObjectStream:
        """The same answer, to be sent as a stream (so a fault can act inside its body)."""
        data = reply.body
        assert isinstance(data, bytes)
        rec = ObjectRecord("", "", len(data), "", 0, 0.0, "", data=data)
        return cls(reply.status, dict(reply.headers), rec, 0, len(data), True)


async def send_object(ctx: Ctx, resp: ObjectStream, storage: Storage, stats: ServerStats) -> None:
    """Send the headers of `resp`, then its body."""
    start, length = resp.start, resp.length
    if not resp.with_body or length == 0:
        await resp.prepare(ctx.request)
        await resp.write_eof()
        return
    plan: list[tuple[BinaryIO | bytes, int, int]] = []
    files: list[BinaryIO] = []
    try:
        if resp.data is not None:  # inline bytes, streamed because a fault acts on them
            plan.append((resp.data, start, length))
        pos = 0
        for blob, size in resp.segments:
            lo, hi = max(start, pos), min(start + length, pos + size)
            if lo < hi:
                # Opening is a metadata operation (microseconds); all reads go via sendfile.
                fobj: BinaryIO = open(storage.blob_path(blob), "rb")  # noqa: SIM115, ASYNC230
                files.append(fobj)
                plan.append((fobj, lo - pos, hi - lo))
            pos += size
        await resp.prepare(ctx.request)
        if resp.writer is not None:
            await resp.writer(ctx, resp, plan, length)
        else:
            await _write_plain(ctx, resp, plan, length)
            stats.bytes_sent += length
        await resp.write_eof()
    finally:
        for fobj in files:
            fobj.close()


async def _write_plain(ctx: Ctx, resp: web.StreamResponse, plan: Plan, length: int) -> None:
    loop = asyncio.get_running_loop()
    for f, offset, count in plan:
        if isinstance(f, bytes):
            await resp.write(f[offset : offset + count])
        elif length <= SMALL_BODY:  # one pread from the page cache beats a sendfile round
            await resp.write(os.pread(f.fileno(), count, offset))
        else:
            transport = ctx.request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("client went away")
            await loop.sendfile(transport, f, offset, count)
