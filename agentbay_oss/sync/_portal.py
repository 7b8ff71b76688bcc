"""The private event loop the blocking facade runs the async core on.

One daemon thread runs one event loop, started on first use and shared by every blocking
object in the process. A blocking call hands its coroutine to that loop and waits for the
result; nothing else is done here, so the cost per call is one thread hand-off each way.

Ctrl-C while waiting cancels the task on the loop and waits until the task has finished its
cleanup (abort a multipart upload, remove a temp file) before KeyboardInterrupt goes on; a
second Ctrl-C during that wait stops waiting. At interpreter exit the loop is shut down; a
forked child starts with no loop and makes a fresh one when it first needs it.

`AGENTBAY_OSS_LOOP=uvloop` (with the `[uvloop]` extra installed) runs this loop, and so the
blocking facade and the CLI, on uvloop instead of asyncio's loop: measured side by side in
benchmarks/RESULTS.md (`agentbay-uvloop`), a modest gain on some rows, none on others, so
opt-in rather than the default.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_SHUTDOWN_TIMEOUT = 10.0
LOOP_ENV = "AGENTBAY_OSS_LOOP"

log = logging.getLogger("agentbay_oss")


def new_loop() -> asyncio.AbstractEventLoop:
    """asyncio's event loop, or uvloop's when AGENTBAY_OSS_LOOP=uvloop asks for it. A choice
    that cannot be honoured is logged and the asyncio loop used: a blocking call must still
    return its result object, not fail on a tuning knob."""
    choice = os.environ.get(LOOP_ENV, "asyncio").strip().lower() or "asyncio"
    if choice == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning(
                "%s=uvloop, but uvloop is not installed (pip install 'agentbay-oss[uvloop]'): "
                "using asyncio's event loop",
                LOOP_ENV,
            )
        else:
            return uvloop.new_event_loop()
    elif choice != "asyncio":
        log.warning("%s=%r is neither asyncio nor uvloop: using asyncio", LOOP_ENV, choice)
    return asyncio.new_event_loop()


class Portal:
    """A lazily started event loop on a daemon thread, safe to call from any other thread."""

    def __init__(self, name: str = "agentbay-oss-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        # Coroutine functions run on the loop before it stops (close leftover sessions).
        self._closers: dict[int, Callable[[], Awaitable[None]]] = {}

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._loop is not None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The portal's loop, started on first use."""
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = new_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._thread_id = threading.get_ident()
            loop.call_soon(ready.set)
            while True:
                try:
                    loop.run_forever()
                except BaseException:
                    # A task raised SystemExit / KeyboardInterrupt, which asyncio lets out of
                    # run_forever after storing it in the task: keep serving, so the task's
                    # caller receives it instead of waiting forever on a dead loop.
                    continue
                break  # stopped by shutdown()

        thread = threading.Thread(target=run, name=self._name, daemon=True)
        thread.start()
        ready.wait()
        self._thread = thread
        self._loop = loop

    def shutdown(self) -> None:
        """Close registered resources, cancel leftover tasks, stop the loop and join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = self._thread_id = None
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("the agentbay-oss event loop cannot shut itself down")
        closers = list(self._closers.values())
        self._closers.clear()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_drain(closers), loop).result(_SHUTDOWN_TIMEOUT)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_SHUTDOWN_TIMEOUT)
        if not thread.is_alive():
            loop.close()

    def _reset_after_fork(self) -> None:
        # The parent's loop thread does not exist in the child: forget it (its selector and
        # self-pipe belong to the parent's loop object, which is never touched again here).
        self._lock = threading.Lock()
        self._loop = self._thread = self._thread_id = None
        self._closers = {}

    # ------------------------------------------------------------------ resources
    def register_closer(self, owner: object, close: Callable[[], Awaitable[None]]) -> None:
        """Run `close()` on the loop at shutdown unless `unregister_closer(owner)` came first."""
        self._closers[id(owner)] = close

    def unregister_closer(self, owner: object) -> None:
        self._closers.pop(id(owner), None)

    # ------------------------------------------------------------------ calls
    def in_loop_thread(self) -> bool:
        return self._thread_id is not None and threading.get_ident() == self._thread_id

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the portal loop and block until it finishes; return or raise its outcome."""
        loop = self._loop or self.loop()
        if threading.get_ident() == self._thread_id:
            coro.close()
            raise RuntimeError(
                "a blocking agentbay_oss call was made from the library's own event loop "
                "thread, which would deadlock; use agentbay_oss.aio (await the Async* API) "
                "inside coroutines and callbacks"
            )
        # A lean run_coroutine_threadsafe that keeps the task, so Ctrl-C can cancel it and
        # still wait for it: `outcome` is settled only when the task has really finished.
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
        started: list[asyncio.Task[T]] = []

        def start() -> None:
            task = loop.create_task(coro)
            started.append(task)
            task.add_done_callback(lambda t: _settle(t, outcome))

        def cancel() -> None:
            if started:
                started[0].cancel()
            else:  # Ctrl-C came before `start` was even queued: it never will run
                coro.close()
                outcome.cancel()

        try:
            loop.call_soon_threadsafe(start)
            return outcome.result()
        except KeyboardInterrupt:
            # Queued after `start` (call_soon_threadsafe keeps order) if `start` was queued.
            loop.call_soon_threadsafe(cancel)
            with contextlib.suppress(BaseException):
                # Waits for the cancelled task's cleanup; a second Ctrl-C stops waiting.
                outcome.result()
            raise


def _settle(task: asyncio.Task[T], outcome: concurrent.futures.Future[T]) -> None:
    if task.cancelled():
        outcome.cancel()
        return
    error = task.exception()
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())


async def _drain(closers: list[Callable[[], Awaitable[None]]]) -> None:
    for close in closers:
        with contextlib.suppress(Exception):
            await close()
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=_SHUTDOWN_TIMEOUT)
    await asyncio.get_running_loop().shutdown_asyncgens()


_portal = Portal()


def portal() -> Portal:
    """The process-wide portal."""
    return _portal


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the process-wide portal loop and block for its outcome."""
    return _portal.call(coro)


atexit.register(_portal.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_portal._reset_after_fork)
