"""Issue 15's no-op sync row at full scale, without reseeding for every code change.

    uv run --python python3 python -m benchmarks.noop_sync --count 1000000 [--runs 3] [--nice -10]

The harness's `scale` workload seeds, uploads, syncs and downloads a tree of 1 KiB files in one
run (over an hour at 1,000,000 files here). This tool keeps the server's store between
invocations (`--work`/noop-server-root): the first invocation seeds the tree with our own
`sync_upload` (timed and printed: that is an upload from empty at this scale), every later one
only measures a `sync_upload` of the unchanged tree, which must send nothing. Each sync runs in a
child process, so its peak RSS and CPU are its own; the server's CPU is read from /proc around
it. `--download` then times the tree's directory download into an empty directory (the
download row at this scale). `--fresh` wipes the store first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.data import nested_tree
from benchmarks.harness import AK, BUCKET, PUBLIC, REGION, ROOT, SK, TOKEN
from benchmarks.serverproc import ServerProcess

PREFIX = "tree"


async def _run(endpoint: str, op: str, local: str) -> dict[str, Any]:
    from agentbay_oss.aio import AsyncAgentBay

    created = await AsyncAgentBay(config={"concurrency": 16}).create()
    session = created.session
    try:
        init = await session.oss.env_init(
            access_key_id=AK,
            access_key_secret=SK,
            securityToken=TOKEN,
            endpoint=endpoint,
            region=REGION,
        )
        if not init.success:
            raise RuntimeError(f"env_init: {init.error_message}")
        t0, cpu0 = time.monotonic(), time.process_time()
        if op == "sync":
            r: Any = await session.oss.sync_upload(BUCKET, PREFIX, local)
            skipped = r.skipped
        else:  # the tree's directory download, into a fresh directory
            r = await session.oss.download(BUCKET, PREFIX + "/", local)
            skipped = 0
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        if not r.success:
            raise RuntimeError(f"{op}: {r.error_message}")
        return {"wall": wall, "cpu": cpu, "sent": r.files, "skipped": skipped}
    finally:
        await session.delete()


def child(endpoint: str, op: str, local: str) -> None:
    """One sync or download in this process; prints one JSON line with its wall and CPU (the
    call alone, not the interpreter's start) and the process's peak RSS."""
    out = asyncio.run(_run(endpoint, op, local))
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork+exec, so a child would report
    # its parent's peak (the harness holds the 1,000,000-file manifest: ~470 MiB).
    status = Path("/proc/self/status").read_text()
    hwm_kib = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:"))
    out["peak_rss_mib"] = hwm_kib / 1024
    print(json.dumps(out), flush=True)


def _measure(server: ServerProcess, local: Path, op: str = "sync") -> dict[str, Any]:
    cpu0 = server.cpu_seconds()
    cmd = [sys.executable, "-m", "benchmarks.noop_sync", "--child", server.endpoint, op]
    cmd.append(str(local))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"sync child failed:\n{proc.stderr[-3000:]}")
    rec: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    rec["server_cpu"] = server.cpu_seconds() - cpu0
    return rec


def _line(what: str, count: int, rec: dict[str, Any]) -> str:
    us = 1e6 / count
    return (
        f"| {what} | {rec['wall']:.1f} | {count / rec['wall']:,.0f} | {rec['sent']:,} | "
        f"{rec['skipped']:,} | {rec['cpu']:.1f} ({rec['cpu'] * us:.0f} us/file) | "
        f"{rec['server_cpu']:.1f} ({rec['server_cpu'] * us:.0f} us/file) | "
        f"{rec['peak_rss_mib']:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.noop_sync", description=__doc__)
    p.add_argument("--count", type=int, default=1_000_000, help="files of 1 KiB")
    p.add_argument("--runs", type=int, default=3, help="no-op syncs measured (median)")
    p.add_argument("--work", type=Path, default=ROOT / ".work")
    p.add_argument("--fresh", action="store_true", help="wipe the kept store first")
    p.add_argument("--nice", type=int, default=0, help="renice everything (needs root if < 0)")
    p.add_argument("--download", action="store_true", help="then time the tree's download")
    p.add_argument("--child", nargs=3, metavar=("ENDPOINT", "OP", "DIR"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(*a.child)
        return 0
    if a.nice:
        os.nice(a.nice)
    work = a.work.resolve()
    t0 = time.monotonic()
    ds = nested_tree(work / "data", "scale", a.count, 2**10)
    print(f"# data ready in {time.monotonic() - t0:.1f}s: {ds.path}", flush=True)
    root = work / f"noop-server-root-{a.count}"
    marker = root / "seeded-by-noop-sync"
    if a.fresh:
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"| {a.count:,} files of 1 KiB | wall s | files/s | sent | skipped | client CPU s | "
        "server CPU s | client peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|",
        flush=True,
    )
    server = ServerProcess(
        root,
        ak=AK,
        sk=SK,
        token=TOKEN,
        region=REGION,
        buckets=[BUCKET],
        public_buckets=[PUBLIC],
        log=work / "noop-server.log",
    )
    with server:
        if not marker.exists():
            rec = _measure(server, ds.path)
            if rec["sent"] != a.count:
                raise RuntimeError(f"seeding sent {rec['sent']} of {a.count}")
            marker.write_text("ok\n")
            print(_line("seeding: sync_upload from empty", a.count, rec), flush=True)
        recs = []
        for _ in range(a.runs):
            rec = _measure(server, ds.path)
            if rec["sent"] != 0 or rec["skipped"] != a.count:
                raise RuntimeError(f"not a no-op: {rec}")
            recs.append(rec)
            print(_line("no-op sync_upload", a.count, rec), flush=True)
        if a.download:
            dest = work / f"noop-dl-{a.count}"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            rec = _measure(server, dest, "download")
            if rec["sent"] != a.count:
                raise RuntimeError(f"download got {rec['sent']} of {a.count}")
            print(_line("directory download", a.count, rec), flush=True)
            shutil.rmtree(dest, ignore_errors=True)
    walls = [r["wall"] for r in recs]
    print(
        f"# no-op sync median {statistics.median(walls):.1f} s "
        f"(min {min(walls):.1f}, max {max(walls):.1f}) over {len(walls)} runs",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
