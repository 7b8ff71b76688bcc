"""Helpers of the reliability tests: small-part configs, sessions, snapshots, a junk server."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import oss2
from aiohttp import web

from agentbay_oss.aio import AsyncAgentBay, AsyncOss, TransferConfig
from agentbay_oss.protocol.crc64 import crc64

T = TypeVar("T")
KiB = 1024
MiB = 1024 * KiB
PART = 100 * KiB
THRESHOLD = 200 * KiB
# Small parts so multipart paths run on small files; quick retries so failures come fast.
QUICK = TransferConfig(
    part_size=PART,
    multipart_threshold=THRESHOLD,
    concurrency=4,
    max_retries=1,
    backoff_base=0.01,
    backoff_max=0.02,
    connect_timeout=5,
    read_timeout=10,
)
# Patient retries for fault injection: a 5% + 2% fault rate must never exhaust them.
PATIENT = QUICK.model_copy(update={"max_retries": 10, "backoff_max": 0.05})


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def new_oss(config: TransferConfig = QUICK) -> AsyncOss:
    created = await AsyncAgentBay(config).create()
    assert created.success, created.error_message
    oss: AsyncOss = created.session.oss
    return oss


@asynccontextmanager
async def oss_session(
    creds: Any, config: TransferConfig = QUICK, **env: Any
) -> AsyncIterator[AsyncOss]:
    """An initialised AsyncOss on the test server; the session is deleted afterwards."""
    oss = await new_oss(config)
    token = env.pop("securityToken", creds.security_token)
    result = await oss.env_init(
        env.pop("access_key_id", creds.access_key_id),
        env.pop("access_key_secret", creds.access_key_secret),
        token,
        endpoint=env.pop("endpoint", creds.endpoint),
        region=env.pop("region", creds.region),
        **env,
    )
    assert result.success, result.error_message
    try:
        yield oss
    finally:
        await oss._session.delete()


def peer_bucket(creds: Any, bucket: str) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)


def remote_state(peer: oss2.Bucket) -> tuple[list[str], list[str]]:
    """(object keys, keys with a multipart upload in progress) of a bucket."""
    keys = sorted(o.key for o in oss2.ObjectIterator(peer))
    uploads = sorted(u.key for u in oss2.MultipartUploadIterator(peer))
    return keys, uploads


def local_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Everything under root: relative path -> (kind, size, mtime_ns), symlinks not followed."""
    out: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = "d" if name in dirnames and not os.path.islink(p) else "f"
            # A directory's mtime moves when a temp file comes and goes: not a change.
            size, mtime = (st.st_size, st.st_mtime_ns) if kind == "f" else (0, 0)
            out[os.path.relpath(p, root)] = (kind, size, mtime)
    return out


def data_of(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes, cheap to make: a seeded block repeated, varied per block."""
    block = bytes((i * 131 + seed * 7 + (i >> 8)) & 0xFF for i in range(64 * KiB))
    reps = size // len(block) + 1
    data = b"".join(bytes([n & 0xFF]) + block[1:] for n in range(reps))
    return data[:size]


def write_file(path: Path, size: int, seed: int = 0) -> bytes:
    data = data_of(size, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def file_crc(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            crc = crc64(chunk, crc)
    return crc


def closed_port() -> int:
    """A loopback port nothing listens on (bound then closed: connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".agentbay-" in p.name]


# ---------------------------------------------------------------------------- junk server

HTML_PAGE = (
    b"<html><head><title>Sign in to Wi-Fi</title></head><body>Accept the terms</body></html>"
)


async def _junk(request: web.BaseRequest) -> web.StreamResponse:
    """Not OSS: the first path segment (the "bucket") says how it misbehaves."""
    await request.read()
    mode = request.path.split("/")[1] if request.path.count("/") >= 1 else ""
    if mode == "html":  # a captive portal: 200 and a web page for everything
        return web.Response(status=200, body=HTML_PAGE, content_type="text/html")
    if mode == "xml":  # claims to be OSS, sends broken XML
        return web.Response(
            status=200,
            body=b"<?xml version='1.0'?><ListBucketResult><Contents><Key>x</Ke",
            content_type="application/xml",
            headers={"x-oss-request-id": "JUNK", "ETag": '"0"'},
        )
    if mode == "deny":  # a proxy refusing: 403 and a web page
        return web.Response(status=403, body=HTML_PAGE, content_type="text/html")
    return web.Response(status=502, body=b"<html>Bad Gateway</html>", content_type="text/html")


@asynccontextmanager
async def junk_server() -> AsyncIterator[str]:
    """A tiny aiohttp server on loopback answering junk; yields its endpoint."""
    runner = web.ServerRunner(web.Server(_junk), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def seed_for(draw: int, pattern: list[bool], rate: float) -> int:
    """A fault seed whose first requests get the fault of `draw` exactly as in `pattern`.

    The server draws seven numbers per request (0 throttle, 1 fail, 2 reset, 4 corrupt,
    6 bad CRC); a fault happens when its draw is below the rate.
    """
    for seed in range(100_000):
        rng = random.Random(seed)
        got = [[rng.random() for _ in range(7)][draw] < rate for _ in pattern]
        if got == pattern:
            return seed
    raise AssertionError("no such seed")
