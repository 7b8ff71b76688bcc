"""Embedding: own thread (`with`), inside a running loop (`async with`), failures at start."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from agentbay_oss.server import LocalOssServer


def test_inside_a_running_loop(tmp_path: Path) -> None:
    async def main() -> None:
        async with LocalOssServer(root=tmp_path, buckets=(), public_buckets=("pub",)) as srv:
            assert srv.endpoint.startswith("http://127.0.0.1:") and srv.port != 0
            async with aiohttp.ClientSession() as session:
                url = f"{srv.endpoint}/pub/k"
                async with session.put(
                    url, data=b"in-loop", skip_auto_headers=["Content-Type"]
                ) as resp:
                    assert resp.status == 200
                async with session.get(url) as resp:
                    assert await resp.read() == b"in-loop"
            assert srv.stats.requests["PutObject"] == 1

    asyncio.run(main())
    # The data root outlives the server (it was given), the temp root does not.
    assert (tmp_path / "meta.sqlite3").exists()


def test_temp_root_removed_and_restartable() -> None:
    srv = LocalOssServer(buckets=("bkt",))
    srv.start()
    root = srv.root
    assert root is not None and root.exists()
    srv.stop()
    assert not root.exists()
    srv.stop()  # idempotent
    with srv:  # and it can start again
        assert srv.root is not None and srv.root.exists()


def test_start_failure_propagates() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        srv = LocalOssServer(port=port)
        with pytest.raises(OSError):
            srv.start()
        with pytest.raises(OSError):
            asyncio.run(srv.start_async())
