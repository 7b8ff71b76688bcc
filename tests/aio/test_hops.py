"""HopBatcher: many small blocking calls per worker-thread hop, results in the right hands."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from agentbay_oss.aio import _hops

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def hop_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the batches the worker threads ran."""
    sizes: list[int] = []
    real = _hops._run_all

    def counting(calls: list[Any]) -> Any:
        sizes.append(len(calls))
        return real(calls)

    monkeypatch.setattr(_hops, "_run_all", counting)
    return sizes


async def test_each_caller_gets_its_own_result_or_exception() -> None:
    hops = _hops.HopBatcher()

    def work(i: int) -> int:
        if i == 3:
            raise ValueError(f"bad {i}")
        return i * i

    results = await asyncio.gather(*(hops.call(work, i) for i in range(8)), return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 3] == [i * i for i in range(8) if i != 3]
    assert isinstance(results[3], ValueError) and str(results[3]) == "bad 3"


async def test_calls_queued_during_a_hop_share_the_next_one(hop_count: list[int]) -> None:
    hops = _hops.HopBatcher()
    gate = threading.Event()
    first = asyncio.ensure_future(hops.call(gate.wait, 5))
    await asyncio.sleep(0.05)  # the first hop is now blocked in its thread
    rest = [asyncio.ensure_future(hops.call(lambda i=i: i)) for i in range(10)]
    await asyncio.sleep(0.05)
    assert not any(t.done() for t in rest)
    gate.set()
    assert await first is True
    assert await asyncio.gather(*rest) == list(range(10))
    assert hop_count == [1, 10]


async def test_a_caller_cancelled_before_its_hop_never_runs() -> None:
    hops = _hops.HopBatcher()
    gate = threading.Event()
    ran: list[str] = []
    first = asyncio.ensure_future(hops.call(gate.wait, 5))
    await asyncio.sleep(0.05)
    doomed = asyncio.ensure_future(hops.call(ran.append, "doomed"))
    kept = asyncio.ensure_future(hops.call(ran.append, "kept"))
    await asyncio.sleep(0)
    doomed.cancel()
    gate.set()
    await first
    await kept
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert ran == ["kept"]


class _Overlap:
    """A blocking call that records how many copies of it ran at the same time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        if self.seconds:
            time.sleep(self.seconds)
        with self.lock:
            self.now -= 1


async def test_slow_calls_run_side_by_side() -> None:
    hops = _hops.HopBatcher(max_lanes=4)
    slow = _Overlap(0.01)
    await hops.call(slow)  # teaches the batcher that calls are slow
    await asyncio.gather(*(hops.call(slow) for _ in range(16)))
    assert slow.peak > 1


async def test_quick_calls_use_one_hop_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_hops, "SLOW_CALL", 60.0)  # "quick" even if this machine stalls a thread
    hops = _hops.HopBatcher(max_lanes=4)
    quick = _Overlap(0)
    for _ in range(3):
        await asyncio.gather(*(hops.call(quick) for _ in range(50)))
    assert quick.peak == 1


async def test_calls_fail_instead_of_hanging_when_no_thread_can_be_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hops = _hops.HopBatcher()
    loop = asyncio.get_running_loop()

    def refuse(*args: Any) -> Any:
        raise RuntimeError("cannot schedule new futures after shutdown")

    monkeypatch.setattr(loop, "run_in_executor", refuse)
    with pytest.raises(RuntimeError, match="after shutdown"):
        await asyncio.wait_for(hops.call(lambda: 1), 5)
    monkeypatch.undo()
    assert await asyncio.wait_for(hops.call(lambda: 2), 5) == 2  # no lane was leaked
