"""The engine as the other rooms use it: public imports only, typed exceptions, no results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import oss2
import pytest
from aio_helpers import PART, THRESHOLD, oss_session, run

from agentbay_oss import NotFoundError
from agentbay_oss.aio.engine import Engine, ObjectTarget
from agentbay_oss.server import LocalOssServer


def test_engine_round_trip_with_public_imports_only(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    data = os.urandom(THRESHOLD + PART + 3)
    src = tmp_path / "in.bin"
    src.write_bytes(data)

    async def go() -> dict[str, Any]:
        async with oss_session(creds) as oss:
            engine = Engine.of(oss)
            out: dict[str, Any] = {}
            target = engine.object(bucket, "e/file.bin")
            assert isinstance(target, ObjectTarget)
            out["put"] = await engine.upload_file(target, str(src), metadata={"k": "v"})
            out["meta"] = await engine.head(target)
            out["piece"] = b"".join(
                c for cs in [x async for x in engine.iter_ranges(target, 10, 100)] for c in cs
            )
            await engine.upload_source(engine.object(bucket, "e/small.json"), b"{}")
            await engine.copy(target, engine.object(bucket, "e/copy.bin"))
            await engine.download_file(engine.object(bucket, "e/copy.bin"), tmp_path / "out")
            out["listed"] = [
                e.key async for page in engine.list_pages(bucket, "e/") for e in page.entries
            ]
            out["deleted"] = await engine.delete(bucket, out["listed"])
            with pytest.raises(NotFoundError):
                await engine.head(engine.object(bucket, "e/file.bin"))
            return out

    out = run(go())
    assert out["put"].size == len(data)
    assert out["meta"].size == len(data) and dict(out["meta"].metadata)["k"] == "v"
    assert dict(out["meta"].metadata)["mtime"] == str(src.stat().st_mtime_ns)
    assert out["piece"] == data[10:110]
    assert (tmp_path / "out").read_bytes() == data
    assert out["listed"] == ["e/copy.bin", "e/file.bin", "e/small.json"]
    assert out["deleted"] == 3
    assert list(peer.list_objects("e/").object_list) == []


def test_engine_needs_env_init(creds: Any) -> None:
    from agentbay_oss import NotInitializedError
    from agentbay_oss.aio import AsyncAgentBay

    async def go() -> None:
        async with AsyncAgentBay() as agent_bay:
            session = (await agent_bay.create()).session
            with pytest.raises(NotInitializedError):
                Engine.of(session.oss)

    run(go())


def test_engine_read_needs_no_head(
    creds: Any, bucket: str, peer: oss2.Bucket, oss_server: LocalOssServer
) -> None:
    """`read`: the first GET's answer tells the size, so a small object is one request; one
    larger than a part comes in more ranges; past the end is no bytes; a missing key raises."""
    data = os.urandom(PART * 2 + 5)
    peer.put_object("r/big.bin", data)
    peer.put_object("r/small.bin", b"tiny")
    oss_server.stats.reset()

    async def go() -> dict[str, Any]:
        async with oss_session(creds) as oss:
            engine = Engine.of(oss)
            big, small = engine.object(bucket, "r/big.bin"), engine.object(bucket, "r/small.bin")
            out: dict[str, Any] = {
                "whole": await engine.read(big),
                "middle": await engine.read(big, PART - 3, PART + 6),
                "tail": await engine.read(big, len(data) - 2, 100),
                "past": await engine.read(big, len(data) + 1),
                "small": await engine.read(small),
            }
            with pytest.raises(NotFoundError):
                await engine.read(engine.object(bucket, "r/missing"))
            with pytest.raises(ValueError):
                await engine.read(small, -1)
            return out

    out = run(go())
    assert out["whole"] == data
    assert out["middle"] == data[PART - 3 : 2 * PART + 3]
    assert out["tail"] == data[-2:]
    assert out["past"] == b""
    assert out["small"] == b"tiny"
    # whole 3 + middle 2 + tail 1 + past 1 + small 1 + missing 1; never a HEAD
    assert dict(oss_server.stats.requests) == {"GetObject": 9}
