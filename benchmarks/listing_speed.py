"""Listing and no-op sync speed (issue 15), as CPU per key of each side.

    python -m benchmarks.listing_speed --count 100000 [--work DIR] [--rounds 2]

Seeds `--count` files of 1 KiB (1,000 to a directory) into a local server in its own process
(`python -m agentbay_oss.server`) with our directory upload, once: the tree and the server's
root are kept in `--work` and reused. Then, each round:

- `list`: every key listed through the SDK's listing (ListObjectsV2 pages of 1,000, read
  ahead): server CPU per key (user+sys from /proc) and client CPU per key (process_time).
- `list_v1`: the same through oss2 (ListObjects V1, with Owner): server CPU per key.
- `sync`: a no-op `sync_upload` (compare size_mtime) of the tree: client and server CPU per
  key, wall time, and how much of the two overlapped ((client + server CPU) / wall: above 1
  means they ran side by side).

CPU time, not wall time, is the measure on a shared machine; speed targets live here, not in
the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentbay_oss.aio import AsyncAgentBay, AsyncOss

from .data import nested_tree
from .serverproc import ServerProcess

AK, SK, TOKEN, REGION, BUCKET = "STS.listing", "listing-secret", "token", "cn-hangzhou", "bench"


async def _with_oss(endpoint: str, op: Callable[[AsyncOss], Awaitable[Any]]) -> Any:
    agent_bay = AsyncAgentBay()
    session = (await agent_bay.create()).session
    try:
        init = await session.oss.env_init(
            access_key_id=AK,
            access_key_secret=SK,
            securityToken=TOKEN,
            endpoint=endpoint,
            region=REGION,
        )
        init.raise_for_error()
        return await op(session.oss)
    finally:
        await session.delete()


async def _count_keys(oss: AsyncOss) -> int:
    n = 0
    async for page in oss.iter_objects(BUCKET, "tree/"):
        n += len(page.entries)
    return n


def _measure(
    server: ServerProcess, endpoint: str, op: Callable[[AsyncOss], Awaitable[Any]]
) -> tuple[Any, float, float, float]:
    """(result, client CPU s, server CPU s, wall s) of `op`."""
    s0, c0, w0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    result = asyncio.run(_with_oss(endpoint, op))
    wall = time.perf_counter() - w0
    return result, time.process_time() - c0, server.cpu_seconds() - s0, wall


def _list_v1(server: ServerProcess, endpoint: str) -> tuple[int, float]:
    """(keys, server CPU s) of a V1 listing of everything by oss2."""
    import oss2

    bucket = oss2.Bucket(oss2.StsAuth(AK, SK, TOKEN), endpoint, BUCKET)
    s0 = server.cpu_seconds()
    n = sum(1 for _ in oss2.ObjectIterator(bucket, prefix="tree/", max_keys=1000))
    return n, server.cpu_seconds() - s0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=100_000, help="files of 1 KiB (default 100000)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "listing-speed")
    p.add_argument("--rounds", type=int, default=2, help="rounds of list + sync (default 2)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = p.parse_args()
    work = a.work / str(a.count)
    work.mkdir(parents=True, exist_ok=True)
    tree = nested_tree(work, "scale", a.count, 1024).path
    with ServerProcess(
        work / "root", ak=AK, sk=SK, token=TOKEN, region=REGION, buckets=[BUCKET], public_buckets=[]
    ) as server:
        ep = server.endpoint
        if asyncio.run(_with_oss(ep, _count_keys)) != a.count:
            up = asyncio.run(_with_oss(ep, lambda oss: oss.upload(BUCKET, "tree", str(tree))))
            up.raise_for_error()
        rows: list[dict[str, float]] = []
        for _ in range(a.rounds):
            n, lc, ls, lw = _measure(server, ep, _count_keys)
            assert n == a.count, (n, a.count)
            n1, l1 = _list_v1(server, ep)
            assert n1 == a.count, (n1, a.count)
            r, sc, ss, sw = _measure(
                server, ep, lambda oss: oss.sync_upload(BUCKET, "tree/", str(tree))
            )
            r.raise_for_error()
            assert r.files == 0 and r.skipped == a.count, (r.files, r.skipped)
            rows.append(
                {
                    "list_server_us_per_key": ls / n * 1e6,
                    "list_client_us_per_key": lc / n * 1e6,
                    "list_wall_s": lw,
                    "list_v1_server_us_per_key": l1 / n1 * 1e6,
                    "sync_client_us_per_key": sc / n * 1e6,
                    "sync_server_us_per_key": ss / n * 1e6,
                    "sync_wall_s": sw,
                    "sync_overlap": (sc + ss) / sw,
                }
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if a.json:
        print(json.dumps({"count": a.count, "peak_rss_mib": peak, "rounds": rows}, indent=1))
        return
    print(f"{a.count} keys; client peak RSS {peak:.0f} MiB")
    for i, row in enumerate(rows):
        cells = "  ".join(f"{k} {v:.2f}" for k, v in row.items())
        print(f"round {i + 1}: {cells}")


if __name__ == "__main__":
    main()
