"""Helpers for the async core tests: a small-part config, sessions, data files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from agentbay_oss.aio import AsyncAgentBay, AsyncOss, TransferConfig

T = TypeVar("T")
KiB = 1024
PART = 100 * KiB
THRESHOLD = 200 * KiB
SMALL = TransferConfig(
    part_size=PART,
    multipart_threshold=THRESHOLD,
    concurrency=4,
    backoff_base=0.01,
    backoff_max=0.05,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def oss_session(
    creds: Any, config: TransferConfig = SMALL, **env: Any
) -> AsyncIterator[AsyncOss]:
    """An initialised AsyncOss on the test server; the session is deleted afterwards."""
    agent_bay = AsyncAgentBay(config)
    created = await agent_bay.create()
    assert created.success, created.error_message
    session = created.session
    token = env.pop("securityToken", creds.security_token)
    result = await session.oss.env_init(
        creds.access_key_id,
        creds.access_key_secret,
        token,
        endpoint=creds.endpoint,
        region=creds.region,
        **env,
    )
    assert result.success, result.error_message
    try:
        yield session.oss
    finally:
        await session.delete()


def write_file(path: Path, size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes (cheap: a repeated random block)."""
    block = os.urandom(min(size, 64 * KiB) or 1)
    data = (block * (size // len(block) + 1))[:size]
    if size:
        data = bytes([seed % 256]) + data[1:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def tree_of(root: Path) -> dict[str, bytes | None]:
    """Relative path -> bytes (None for a directory) of everything under root."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = None if p.is_dir() else p.read_bytes()
    return out


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".agentbay-" in p.name]
