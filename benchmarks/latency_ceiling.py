"""The ceiling of latency-bound small files, without the SDK: bare aiohttp, N PUTs then N GETs
of 4 KiB at a fixed concurrency, against a server that delays every request.

    uv run --python python3 python -m benchmarks.latency_ceiling [--count 4000] [--signed]

Two servers, each in its own process, one after the other: ours (`python -m
agentbay_oss.server --latency-ms`, public bucket unless --signed) and an aiohttp hello-world
with the same delay (`hello`: reads the body, answers 200 with an ETag; GET answers the
bytes). The hello-world row is what HTTP in Python costs on this machine; the gap between the
two rows is our server's own work. Printed per direction: files/s, its ratio to the bound
concurrency / latency, and CPU per request of the client and of the server (us).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
from aiohttp import web

from agentbay_oss.protocol.signing import Credentials, sign_v4

from .serverproc import ServerProcess

AK, SK, REGION, BUCKET = "ceil-ak", "ceil-sk-not-a-secret", "cn-hangzhou", "ceil"


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(
    endpoint: str, method: str, count: int, concurrency: int, size: int, signed: bool
) -> None:
    body = os.urandom(size)
    creds = Credentials(AK, SK)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as session:
        keys = iter(range(count))

        async def worker() -> None:
            for i in keys:
                key = f"d/{i:06d}.bin"
                headers: dict[str, str] = {}
                if method == "PUT":
                    headers["Content-Type"] = "application/octet-stream"
                if signed:
                    sign_v4(
                        creds, REGION, method, BUCKET, key, [], headers, datetime.now(timezone.utc)
                    )
                data = body if method == "PUT" else None
                async with session.request(
                    method, f"{endpoint}/{BUCKET}/{key}", data=data, headers=headers
                ) as resp:
                    got = await resp.read()
                    if resp.status != 200 or (method == "GET" and len(got) != size):
                        raise RuntimeError(f"{method} {key}: {resp.status} {got[:200]!r}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def _measure(
    endpoint: str, pid: int, method: str, a: argparse.Namespace
) -> tuple[float, float, float]:
    """(files/s, client CPU us per request, server CPU us per request)."""
    c0, s0, t0 = time.process_time(), _cpu(pid), time.perf_counter()
    asyncio.run(_load(endpoint, method, a.count, a.concurrency, a.size, a.signed))
    wall = time.perf_counter() - t0
    client, server = time.process_time() - c0, _cpu(pid) - s0
    return a.count / wall, client / a.count * 1e6, server / a.count * 1e6


def _report(name: str, endpoint: str, pid: int, a: argparse.Namespace) -> None:
    bound = a.concurrency / (a.latency_ms / 1000)
    for method in ("PUT", "GET"):
        rate, client, server = _measure(endpoint, pid, method, a)
        print(
            f"{name:6} {method:3}  {rate:7.0f} files/s  {rate / bound:4.2f}x bound  "
            f"client {client:5.0f} us/req  server {server:5.0f} us/req",
            flush=True,
        )


# ---------------------------------------------------------------------------- hello world


def _serve_hello(port: int, latency_ms: int, size: int) -> None:
    payload = b"x" * size

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        await asyncio.sleep(latency_ms / 1000)
        if request.method == "PUT":
            await request.read()
            return web.Response(headers={"ETag": '"0"'})
        return web.Response(body=payload)

    async def main() -> None:
        server = web.Server(handle)
        runner = web.ServerRunner(server)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _start_hello(a: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "benchmarks.latency_ceiling", "--serve-hello"]
    cmd += ["--latency-ms", str(a.latency_ms), "--size", str(a.size)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.split()[-1]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency_ceiling")
    p.add_argument("--count", type=int, default=4000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--latency-ms", type=int, default=20)
    p.add_argument("--signed", action="store_true", help="V4-signed requests, private bucket")
    p.add_argument("--only", choices=("ours", "hello"), help="one server only")
    p.add_argument("--endpoint", help="a server already running (with --pid: its CPU too)")
    p.add_argument("--pid", type=int, default=0, help="that server's process id")
    p.add_argument("--serve-hello", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve_hello:
        _serve_hello(0, a.latency_ms, a.size)
        return
    if a.endpoint:  # e.g. one under py-spy
        _report("given", a.endpoint, a.pid or os.getpid(), a)
        return
    if a.only != "hello":
        with tempfile.TemporaryDirectory() as root:
            public = [] if a.signed else [BUCKET]
            srv = ServerProcess(
                Path(root), ak=AK, sk=SK, token="", region=REGION, buckets=[BUCKET],
                public_buckets=public, latency_ms=a.latency_ms,
            )  # fmt: skip
            with srv:
                assert srv.proc is not None
                _report("ours", srv.endpoint, srv.proc.pid, a)
    if a.only != "ours":
        proc, endpoint = _start_hello(a)
        try:
            _report("hello", endpoint, proc.pid, a)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
