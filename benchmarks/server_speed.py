"""Single-stream PUT and GET speed of the local server, with a plain aiohttp client.

    uv run --python python3 python -m benchmarks.server_speed [--mib 1024]

The server runs in its own process (`python -m agentbay_oss.server`) with a public
bucket, so no signing cost is measured and client and server do not share a GIL.
The client sends one repeated 64 MiB random block (no disk reads on the client)
and discards what it receives; the server writes to and sends from its data root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator

import aiohttp

BLOCK = 64 * 1024 * 1024
SLICE = 4 * 1024 * 1024


async def _body(total: int, block: bytes) -> AsyncIterator[bytes]:
    view = memoryview(block)
    sent = 0
    while sent < total:
        n = min(SLICE, total - sent)
        off = sent % len(block)
        n = min(n, len(block) - off)
        yield bytes(view[off : off + n]) if n != SLICE else view[off : off + n]  # type: ignore[misc]
        sent += n


async def run(endpoint: str, total: int) -> tuple[float, float, float]:
    block = os.urandom(BLOCK)
    url = f"{endpoint}/bench/big-object"
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        t0 = time.perf_counter()
        async with session.put(
            url,
            data=_body(total, block),
            headers={"Content-Length": str(total), "Content-Type": "application/octet-stream"},
        ) as resp:
            assert resp.status == 200, await resp.text()
        put_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = 0
        async with session.get(url) as resp:
            assert resp.status == 200, await resp.text()
            async for chunk in resp.content.iter_chunked(SLICE):
                got += len(chunk)
        get_s = time.perf_counter() - t0
        assert got == total, (got, total)
        mp_get_s = await _multipart_get(session, endpoint, total, block)
    return total / put_s / 1e6, total / get_s / 1e6, total / mp_get_s / 1e6


async def _multipart_get(
    session: aiohttp.ClientSession, endpoint: str, total: int, block: bytes
) -> float:
    """Store the same bytes as a 16 MiB-part multipart object, then time one streaming GET."""
    url = f"{endpoint}/bench/big-multipart"
    async with session.post(url + "?uploads") as resp:
        upload_id = re.search(r"<UploadId>(.+?)</UploadId>", await resp.text()).group(1)  # type: ignore[union-attr]
    part, parts, offset, number = 16 * 1024 * 1024, [], 0, 1
    while offset < total:
        n = min(part, total - offset)
        body = block[offset % len(block) : offset % len(block) + n]
        async with session.put(
            f"{url}?partNumber={number}&uploadId={upload_id}", data=body
        ) as resp:
            assert resp.status == 200, await resp.text()
            parts.append(
                f"<Part><PartNumber>{number}</PartNumber><ETag>{resp.headers['ETag']}</ETag></Part>"
            )
        offset, number = offset + n, number + 1
    xml = "<CompleteMultipartUpload>" + "".join(parts) + "</CompleteMultipartUpload>"
    async with session.post(f"{url}?uploadId={upload_id}", data=xml.encode()) as resp:
        assert resp.status == 200, await resp.text()
    t0 = time.perf_counter()
    got = 0
    async with session.get(url) as resp:
        async for chunk in resp.content.iter_chunked(SLICE):
            got += len(chunk)
    assert got == total, (got, total)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="object size in MiB (default 1024)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs against the same server (later runs overwrite)"
    )
    args = parser.parse_args()
    total = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="server-speed-") as root:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "agentbay_oss.server", "--root", root, "--public-bucket", "bench",
                "--access-key-id", "bench", "--access-key-secret", "bench-secret",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("listening on "):
                raise SystemExit(f"server did not start: {line!r}")
            for i in range(1, args.repeat + 1):
                endpoint = line.split()[2]  # `listening on URL OSS_ENDPOINT=... ...`
                put, get, mp_get = asyncio.run(run(endpoint, total))
                run_tag = f" (run {i})" if args.repeat > 1 else ""
                print(f"server single-stream PUT {args.mib} MiB{run_tag}: {put:,.0f} MB/s")
                print(f"server single-stream GET {args.mib} MiB{run_tag}: {get:,.0f} MB/s")
                print(
                    f"server single-stream GET {args.mib} MiB multipart (16 MiB parts){run_tag}: "
                    f"{mp_get:,.0f} MB/s",
                    flush=True,
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
