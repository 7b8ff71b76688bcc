"""Cutting a stream of work into batches, with at most `in_flight` batches out at once.

`add` blocks while every slot is taken (backpressure: the walk or the listing waits, so the
coordinator holds at most `in_flight` batches whatever the size of the tree). Big files run
as their own tasks (`spawn`), whose pieces take slots like batches do. The first error of any
of them is raised to the caller by the next `add` / `spawn` / `close`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[None]],
        files: int,
        nbytes: int,
        in_flight: int,
        big_at_once: int = 2,
    ) -> None:
        self._run = run
        self._files = max(1, files)
        self._bytes = max(1, nbytes)
        self.slots = asyncio.Semaphore(max(1, in_flight))
        self._big = asyncio.Semaphore(max(1, big_at_once))
        self._items: list[T] = []
        self._size = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    async def add(self, item: T, size: int) -> None:
        self._check()
        self._items.append(item)
        self._size += size
        if len(self._items) >= self._files or self._size >= self._bytes:
            await self.flush()

    async def flush(self) -> None:
        if not self._items:
            return
        batch, self._items, self._size = self._items, [], 0
        await self.slots.acquire()
        self._start(self._hold_slot(batch))

    async def _hold_slot(self, batch: list[T]) -> None:
        try:
            await self._run(batch)
        finally:
            self.slots.release()

    async def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` (a big file) beside the batches; at most `big_at_once` at a time."""
        self._check()
        await self._big.acquire()

        async def go() -> None:
            try:
                await work()
            finally:
                self._big.release()

        self._start(go())

    def _start(self, coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:
                if self._error is None:
                    self._error = exc

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Send the last batch, wait for everything, raise the first error."""
        self._check()
        await self.flush()
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        self._check()

    async def cancel(self) -> None:
        """Stop what is out and wait for its cleanup (aborts, temp files)."""
        for t in self._tasks:
            t.cancel()
        while self._tasks:
            await asyncio.wait(set(self._tasks))
