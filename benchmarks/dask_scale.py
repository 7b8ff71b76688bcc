"""Issue 16's scaling row: aggregate files/s of a directory upload and download sharded over
1, 2 and 3 Dask workers (LocalCluster processes, one thread each) against a server that delays
every request by --latency-ms, with a small per-worker concurrency: each worker is bound by
latency, not by this machine's CPU, so N workers should move ~N times the files.

    python -m benchmarks.dask_scale                  # 2000 files of 4 KiB, 50 ms, concurrency 4
    python -m benchmarks.dask_scale --count 500 --workers 1 2 --json

Not part of the harness: its rows are copied into RESULTS.md by hand (see the 2026-12-03 status).
The target (issue 16): files/s at N workers >= 0.8 x N x files/s at 1 worker.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from agentbay_oss.aio import AsyncAgentBay, TransferConfig
from benchmarks.data import file_tree
from benchmarks.serverproc import ServerProcess

AK, SK, TOKEN, REGION, BUCKET = (
    "LTAIbenchDask",
    "bench-secret",
    "bench-token",
    "cn-hangzhou",
    "bench",
)


async def _transfer(
    endpoint: str, cluster: Any, src: Path, out: Path, concurrency: int, batch_files: int
) -> dict[str, float]:
    from agentbay_oss.dask import Cluster

    session = (await AsyncAgentBay(TransferConfig(concurrency=concurrency)).create()).session
    assert session is not None
    try:
        init = await session.oss.env_init(AK, SK, TOKEN, endpoint=endpoint, region=REGION)
        init.raise_for_error()
        oss = session.oss
        # Many batches per worker (2 in flight each), so the last ones do not leave some idle.
        on = Cluster(cluster, batch_files=batch_files)
        prefix = f"run-{time.monotonic_ns()}"
        t0 = time.perf_counter()
        up = await oss.upload(BUCKET, prefix, str(src), cluster=on)
        t1 = time.perf_counter()
        down = await oss.download(BUCKET, prefix + "/", str(out), cluster=on)
        t2 = time.perf_counter()
        for r in (up, down):
            if not r.success:
                raise SystemExit(r.error_message)
        await oss.delete_objects(BUCKET, prefix, recursive=True)
        return {"files": up.files, "upload_files_s": up.files / (t1 - t0),
                "download_files_s": down.files / (t2 - t1)}  # fmt: skip
    finally:
        await session.delete()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=2000, help="files of --size bytes (2000)")
    p.add_argument("--size", type=int, default=4096, help="bytes per file (4096)")
    p.add_argument("--latency-ms", type=int, default=50, help="server delay per request (50)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight per worker (4)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--batch-files", type=int, default=32, help="files per batch (32)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the tree is kept")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = p.parse_args(argv)

    import distributed

    # distributed's constructors are unannotated: called through Any.
    local_cluster: Any = distributed.LocalCluster
    dask_client: Any = distributed.Client

    work = Path(tempfile.mkdtemp(prefix="dask-scale-"))
    data_dir = a.data_dir or work / "data"
    rows: list[dict[str, Any]] = []
    try:
        tree = file_tree(data_dir, "dask", a.count, a.size)
        server = ServerProcess(
            work / "root", ak=AK, sk=SK, token=TOKEN, region=REGION, buckets=[BUCKET],
            public_buckets=[], latency_ms=a.latency_ms,
        )  # fmt: skip
        with server:
            for n in a.workers:
                with (
                    local_cluster(
                        n_workers=n, processes=True, threads_per_worker=1, dashboard_address=":0"
                    ) as cluster,
                    dask_client(cluster) as client,
                ):
                    # Warm-up, not timed: every worker imports the engine before the clock runs.
                    client.run(importlib.import_module, "agentbay_oss.dask._worker")
                    out = work / f"out-{n}"
                    got = asyncio.run(
                        _transfer(
                            server.endpoint, client, tree.path, out, a.concurrency, a.batch_files
                        )
                    )
                    shutil.rmtree(out, ignore_errors=True)
                rows.append({"workers": n, **got})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = {k: rows[0][k] / rows[0]["workers"] for k in ("upload_files_s", "download_files_s")}
    for row in rows:
        for k, per_worker in base.items():
            row[k.replace("files_s", "of_linear")] = row[k] / (per_worker * row["workers"])
    if a.json:
        print(json.dumps({"settings": vars(a) | {"data_dir": str(a.data_dir)}, "rows": rows}))
    else:
        print(f"{a.count} files of {a.size} B, server latency {a.latency_ms} ms, "
              f"concurrency {a.concurrency} per worker")  # fmt: skip
        print("workers  upload files/s (x linear)  download files/s (x linear)")
        for r in rows:
            print(f"{r['workers']:>7}  {r['upload_files_s']:>14.0f} ({r['upload_of_linear']:.2f})"
                  f"  {r['download_files_s']:>16.0f} ({r['download_of_linear']:.2f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
