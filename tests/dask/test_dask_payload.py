"""The task payload: secrets out of its repr (Dask logs task arguments), a new engine key for
new credentials; and the batcher's bound on batches in flight. No cluster needed."""

from __future__ import annotations

import asyncio
import pickle

from agentbay_oss.aio._client import Endpoint
from agentbay_oss.config import TransferConfig
from agentbay_oss.dask._batches import Batcher
from agentbay_oss.dask._payload import WorkerConfig
from agentbay_oss.protocol.signing import Credentials

ENDPOINT = Endpoint("http", "127.0.0.1:9", "cn-hangzhou", True)


def _cfg(token: str) -> WorkerConfig:
    creds = Credentials("LTAI5tPayloadKeyId", "payload-secret-never-shown", token)
    return WorkerConfig(ENDPOINT, "v4", creds, TransferConfig())


def test_repr_hides_the_secret_and_the_token_keys_the_engine() -> None:
    a, b = _cfg("sts-token-one-never-shown"), _cfg("sts-token-two-never-shown")
    for cfg in (a, b):
        shown = repr(cfg) + str(cfg) + repr(pickle.loads(pickle.dumps(cfg)))
        assert "never-shown" not in shown and "LTAI5tPayloadKeyId" not in shown
        assert "never-shown" not in cfg.token
    assert a.token == _cfg("sts-token-one-never-shown").token
    assert a.token != b.token  # refreshed STS credentials: another engine on the workers
    assert pickle.loads(pickle.dumps(a)).creds == a.creds  # what the worker signs with


def test_batches_in_flight_are_bounded() -> None:
    out: list[int] = []
    running = 0
    most = 0

    async def run(batch: list[int]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        out.extend(batch)
        running -= 1

    async def go() -> None:
        batcher: Batcher[int] = Batcher(run, files=3, nbytes=1 << 20, in_flight=2)
        for i in range(20):
            await batcher.add(i, 1)
            assert running <= 2
        await batcher.close()

    asyncio.run(go())
    assert sorted(out) == list(range(20)) and most == 2


def test_a_failed_batch_stops_the_feed() -> None:
    async def run(batch: list[int]) -> None:
        if 4 in batch:
            raise RuntimeError("batch with 4 failed")
        await asyncio.sleep(0)

    added = 0

    async def go() -> str:
        nonlocal added
        batcher: Batcher[int] = Batcher(run, files=2, nbytes=1 << 20, in_flight=1)
        try:
            for i in range(100):
                await batcher.add(i, 1)
                added += 1
            await batcher.close()
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(go()) == "batch with 4 failed"
    assert added < 20  # the feed stopped soon after, not at the end of the stream
