"""Upload sources other than a local path: one type, `StreamSource`, reads any of them in order.

Accepted: bytes-like objects; binary file objects (sync `read`, or async `read` as aiofiles
gives); sync or async iterables of bytes-like chunks, of unknown size. Blocking reads (a file
object's `read`, a generator's next chunk) run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from ..errors import InvalidInputError
from ..protocol import planning

READ_CHUNK = 1 << 20  # a file object is read this much at a time
_END = object()


class StreamSource:
    """Bytes read in order from `chunks`; `size` when it is known beforehand."""

    def __init__(
        self,
        chunks: AsyncIterator[Any],
        size: int | None,
        label: str,
        *,
        in_memory: bool = False,
        readinto: Any = None,
    ) -> None:
        self._chunks = chunks
        self.size = size
        self.label = label
        self.in_memory = in_memory  # the bytes exist already: parts are views of them
        self._readinto = readinto  # a blocking file object's readinto, when it has one
        self._rest: memoryview | None = None
        self._eof = False
        self.consumed = 0

    def part_size(self, wanted: int) -> int:
        """Known sizes get parts grown to fit 10,000; unknown ones keep `wanted`."""
        return planning.part_size_for(self.size or 0, wanted)

    async def _next_chunk(self) -> memoryview | None:
        if self._rest is not None:
            chunk, self._rest = self._rest, None
            return chunk
        if self._eof:
            return None
        while True:
            try:
                item = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._eof = True
                return None
            view = _as_view(item, self.label)
            if len(view):
                return view

    async def read(self, n: int) -> memoryview:
        """Exactly `n` bytes, fewer only at the end of the source (empty: nothing left)."""
        pieces: list[memoryview] = []
        got = 0
        while got < n:
            chunk = await self._next_chunk()
            if chunk is None:
                break
            if got + len(chunk) > n:
                self._rest = chunk[n - got :]
                chunk = chunk[: n - got]
            pieces.append(chunk)
            got += len(chunk)
        self.consumed += got
        if len(pieces) == 1:
            return pieces[0]
        return memoryview(b"".join(pieces))

    async def read_into(self, view: memoryview) -> int:
        """Fill `view` (fewer bytes only at the end); returns how many. A file object with
        `readinto` fills it in one worker-thread hop per call; other sources are copied in
        chunk by chunk, so a part never exists twice."""
        got = 0
        if self._readinto is not None and self._rest is None and not self._eof:
            while got < len(view):
                n = await asyncio.to_thread(self._readinto, view[got:])
                if n is None:  # a non-blocking raw stream with nothing yet
                    await asyncio.sleep(0.01)
                    continue
                if n == 0:
                    self._eof = True
                    break
                got += n
            self.consumed += got
            return got
        while got < len(view):
            chunk = await self._next_chunk()
            if chunk is None:
                break
            take = min(len(chunk), len(view) - got)
            view[got : got + take] = chunk[:take]
            if take < len(chunk):
                self._rest = chunk[take:]
            got += take
        self.consumed += got
        return got

    async def at_end(self) -> bool:
        if self._readinto is not None and self._rest is None and not self._eof:
            probe = bytearray(1)
            if await self.read_into(memoryview(probe)) == 0:
                return True
            self.consumed -= 1
            self._rest = memoryview(bytes(probe))
            return False
        chunk = await self._next_chunk()
        if chunk is None:
            return True
        self._rest = chunk
        return False

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


def _as_view(item: Any, label: str) -> memoryview:
    if isinstance(item, str):
        raise InvalidInputError(
            f"{label} gave text (str), not bytes",
            hint="encode it first (e.g. text.encode()), or open files in binary mode ('rb')",
        )
    try:
        view = memoryview(item)
    except TypeError:
        raise InvalidInputError(
            f"{label} gave a {type(item).__name__}, not bytes",
            hint="yield bytes, bytearray or memoryview chunks",
        ) from None
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def as_source(obj: Any) -> StreamSource:
    """The StreamSource reading `obj`, or InvalidInputError saying what is accepted."""
    if isinstance(obj, str):
        raise InvalidInputError(
            "the source is a str",
            hint="pass bytes (text.encode()), a binary file object or an iterable of bytes; "
            "for a local path use upload()",
        )
    if isinstance(obj, (bytes, bytearray, memoryview)):
        view = _as_view(obj, "the source")
        return StreamSource(_one(view), len(view), "the bytes source", in_memory=True)
    read = getattr(obj, "read", None)
    if read is not None and callable(read):
        label = f"the file object {getattr(obj, 'name', type(obj).__name__)!r}"
        if inspect.iscoroutinefunction(read):
            return StreamSource(_async_reads(read), None, label)
        readinto = getattr(obj, "readinto", None)
        if _binary(obj) and callable(readinto) and not inspect.iscoroutinefunction(readinto):
            return StreamSource(_thread_reads(read), None, label, readinto=readinto)
        return StreamSource(_thread_reads(read), None, label)
    if isinstance(obj, AsyncIterable):
        return StreamSource(aiter(obj), None, "the async iterable source")
    if isinstance(obj, Iterable):
        return StreamSource(_thread_iter(iter(obj)), None, "the iterable source")
    raise InvalidInputError(
        f"cannot upload a {type(obj).__name__}",
        hint="pass bytes, a binary file object, or a (async) iterable of bytes",
    )


def _binary(obj: Any) -> bool:
    """A binary file object (text-mode ones have no `readinto`, or refuse it)."""
    return not isinstance(obj, io.TextIOBase) and "b" in getattr(obj, "mode", "b")


async def _one(view: memoryview) -> AsyncIterator[memoryview]:
    yield view


async def _async_reads(read: Any) -> AsyncIterator[Any]:
    while True:
        data = await read(READ_CHUNK)
        if not data:
            return
        yield data


async def _thread_reads(read: Any) -> AsyncIterator[Any]:
    while True:
        data = await asyncio.to_thread(read, READ_CHUNK)
        if data is None:  # a non-blocking raw stream with nothing yet: wait a little
            await asyncio.sleep(0.01)
            continue
        if not data:
            return
        yield data


async def _thread_iter(it: Iterator[Any]) -> AsyncIterator[Any]:
    while True:
        item = await asyncio.to_thread(next, it, _END)
        if item is _END:
            return
        yield item
