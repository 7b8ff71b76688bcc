"""The private loop portal, with toy coroutines (no server needed)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from agentbay_oss.sync import _portal
from agentbay_oss.sync._portal import Portal


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal(name="test-portal")
    yield p
    p.shutdown()


async def _add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def _fail() -> None:
    raise ValueError("boom")


def test_call_returns_and_raises(portal: Portal) -> None:
    assert not portal.running
    assert portal.call(_add(2, 3)) == 5
    assert portal.running
    with pytest.raises(ValueError, match="boom"):
        portal.call(_fail())


def test_many_threads_share_one_loop(portal: Portal) -> None:
    async def which_loop(i: int) -> tuple[int, int]:
        await asyncio.sleep(0.001)
        return i, id(asyncio.get_running_loop())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: portal.call(which_loop(i)), range(200)))
    assert [i for i, _ in results] == list(range(200))
    assert len({loop_id for _, loop_id in results}) == 1


def test_works_inside_a_running_loop(portal: Portal) -> None:
    async def notebook_cell() -> int:
        # A Jupyter cell: a loop is running in this thread and a blocking call is made.
        return portal.call(_add(20, 22))

    assert asyncio.run(notebook_cell()) == 42


def test_call_from_loop_thread_raises(portal: Portal) -> None:
    async def reenter() -> None:
        portal.call(_add(1, 1))

    with pytest.raises(RuntimeError, match="deadlock"):
        portal.call(reenter())
    # The loop survives the refused call.
    assert portal.call(_add(1, 1)) == 2


def test_keyboard_interrupt_cancels_and_waits_for_cleanup(portal: Portal) -> None:
    entered = threading.Event()
    events: list[str] = []

    async def transfer() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()  # never set: only a cancel ends this
        finally:
            events.append("cancelled")
            await asyncio.sleep(0.05)  # cleanup that needs the loop (e.g. abort multipart)
            events.append("cleaned")

    def press_ctrl_c() -> None:
        entered.wait()
        # A real SIGINT to the main thread, as Ctrl-C would deliver it.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    assert threading.current_thread() is threading.main_thread()
    helper = threading.Thread(target=press_ctrl_c)
    helper.start()
    with pytest.raises(KeyboardInterrupt):
        portal.call(transfer())
    helper.join()
    assert events == ["cancelled", "cleaned"]
    assert portal.call(_add(1, 2)) == 3


def test_shutdown_then_restart(portal: Portal) -> None:
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    owner = object()
    portal.call(_add(0, 0))
    portal.register_closer(owner, close)
    portal.shutdown()
    assert closed == [True]
    assert not portal.running
    assert portal.call(_add(1, 1)) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_gets_a_fresh_loop() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    parent_loop = _portal.run(loop_id())
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            # Without the at-fork reset the call would wait forever for a loop thread that
            # does not exist in the child: let the kernel end it instead.
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(20)
            os.close(read_fd)
            child_loop = _portal.run(loop_id())
            os.write(write_fd, b"fresh" if child_loop != parent_loop else b"same")
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        answer = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == b"fresh"


def test_system_exit_in_a_task_reaches_the_caller_and_the_loop_survives(portal: Portal) -> None:
    async def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        portal.call(leave())
    assert portal.call(_add(2, 2)) == 4
