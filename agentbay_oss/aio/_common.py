"""Shared engine pieces: progress reporting, bounded worker pools, transfer bookkeeping."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from ..errors import (
    AuthError,
    NotFoundError,
    OssError,
    ProtocolError,
    ServerError,
    TransportError,
)
from ..models import ProgressEvent, TransferredObject
from . import _files
from ._errors import from_exception

log = logging.getLogger("agentbay_oss.aio")
T = TypeVar("T")
R = TypeVar("R")

ProgressHook = Callable[[ProgressEvent], "Awaitable[None] | None"]


class Progress:
    """Counts bytes and files; calls the user's hook (sync or async) on each step."""

    def __init__(self, hook: ProgressHook | None, files_total: int = 0, bytes_total: int = 0):
        self.hook = hook
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.totals_final = True
        self.files_done = 0
        self.bytes_done = 0
        self._warned = False

    async def emit(self, key: str) -> None:
        if self.hook is None:
            return
        event = ProgressEvent(
            self.bytes_done,
            self.bytes_total,
            self.files_done,
            self.files_total,
            key,
            self.totals_final,
        )
        try:
            result = self.hook(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # a broken progress bar must not break the transfer
            if not self._warned:
                self._warned = True
                log.warning("progress hook raised %r; ignoring it", exc)

    async def add_bytes(self, n: int, key: str) -> None:
        self.bytes_done += n
        await self.emit(key)

    async def file_done(self, key: str, emit: bool = True) -> None:
        self.files_done += 1
        if emit:
            await self.emit(key)


async def run_pool(items: Iterable[T], workers: int, fn: Callable[[T], Awaitable[R]]) -> list[R]:
    """Apply `fn` to every item with at most `workers` running; fail fast, results in order.

    A fixed set of worker tasks pulls from one shared iterator, so a million items never
    mean a million tasks. On the first error the others are cancelled and awaited.
    """
    indexed = iter(enumerate(items))
    results: dict[int, R] = {}

    async def worker() -> None:
        for i, item in indexed:
            results[i] = await fn(item)

    await gather_all([worker() for _ in range(max(1, workers))])
    return [results[i] for i in range(len(results))]


async def gather_all(coros: Iterable[Awaitable[None]]) -> None:
    """Run tasks together; on the first failure cancel the rest, wait for them, re-raise."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        if any(t.cancelled() for t in done):
            # A worker cancelled from outside lost its item: never report that as success.
            raise asyncio.CancelledError
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        # Wait until every task has really finished (their cleanups close files and abort
        # uploads), even if we are cancelled again meanwhile; then re-raise that.
        interrupted = False
        while not all(t.done() for t in tasks):
            try:
                await asyncio.wait(tasks)
            except asyncio.CancelledError:
                interrupted = True
        for t in tasks:
            if not t.cancelled():
                t.exception()  # mark retrieved: no "exception was never retrieved" noise
        if interrupted:
            raise asyncio.CancelledError


def is_fatal(err: OssError) -> bool:
    """Errors that doom every file of a directory transfer (stop at once)."""
    if isinstance(err, (AuthError, TransportError, ServerError, ProtocolError)):
        return True
    return isinstance(err, NotFoundError) and err.code == "NoSuchBucket"


ObjectHook = Callable[[TransferredObject], "Awaitable[None] | None"]
MAX_KEPT_ERRORS = 10


class Outcome:
    """What a transfer did, as counts. Each object goes to the `on_object` hook as it is
    done and is kept (`objects`) only for single-object calls, so the memory of a directory
    transfer does not grow with the tree. Failures: counted, the first few kept."""

    def __init__(self, on_object: ObjectHook | None = None, keep: bool = False) -> None:
        self.on_object = on_object
        self.keep = keep
        self.objects: list[TransferredObject] = []
        self.files = 0  # objects that are not directory markers
        self.bytes = 0
        self.failed = 0
        self.errors: list[tuple[str, OssError]] = []  # the first MAX_KEPT_ERRORS

    async def add(self, obj: TransferredObject) -> None:
        if not obj.key.endswith("/"):
            self.files += 1
        self.bytes += obj.size
        if self.keep:
            self.objects.append(obj)
        if self.on_object is not None:
            got = self.on_object(obj)
            if inspect.isawaitable(got):
                await got

    def record(self, where: str, err: OssError) -> None:
        self.failed += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append((where, err))


class Pipeline(Generic[T]):
    """A producer feeding a bounded queue consumed by a fixed pool of workers.

    Per-item errors that are not fatal are recorded and the rest continue; a fatal error
    (auth, network after retries, ...) stops everything.
    """

    def __init__(
        self, workers: int, handle: Callable[[T], Awaitable[None]], name: str, outcome: Outcome
    ) -> None:
        self.workers = max(1, workers)
        self.handle = handle
        self.name = name
        self.queue: asyncio.Queue[T | None] = asyncio.Queue(maxsize=self.workers * 2)
        self.outcome = outcome  # per-item failures are recorded there

    async def run(self, produce: Callable[[], AsyncIterator[T]], label: Callable[[T], str]) -> None:
        async def producer() -> None:
            async for item in produce():
                await self.queue.put(item)
            for _ in range(self.workers):
                await self.queue.put(None)

        async def worker() -> None:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                try:
                    await self.handle(item)
                except Exception as exc:
                    err = from_exception(exc, label(item))
                    if is_fatal(err):
                        if err is exc:
                            raise  # not `from exc`: a cause that is itself is a cycle
                        raise err from exc
                    self.outcome.record(label(item), err)

        await gather_all([producer(), *(worker() for _ in range(self.workers))])


async def walk_tree(root: str, progress: Progress) -> AsyncIterator[_files.WalkItem]:
    """The items of an upload tree, walked in batches off the loop; counts totals as it goes.
    Small files come with their bytes (see `_files.read_ahead`)."""
    walker = _files.TreeWalker(root)
    progress.totals_final = False
    while True:
        batch = await asyncio.to_thread(walker.next_batch, 512)
        if not batch:
            break
        for item in batch:
            if not item.error and not item.is_dir_marker:
                progress.files_total += 1
                progress.bytes_total += item.size
            yield item
    progress.totals_final = True
