"""Workload group `fs` (issue 17): `OssFileSystem` beside ossfs, same server, same run.

    python -m benchmarks --workloads fs [--quick] [--runs N] [--no-record]

Rows: `put` / `get` of one file (1 GiB, --quick 64 MiB), `cat` of 10,000 x 4 KiB objects in
one call with a list (--quick 1,000), `find` over 100,000 keys (--quick 10,000; peak RSS),
Parquet `read_table` of 8 of 32 columns from one file (1 GiB, --quick 64 MiB; bytes fetched
against the bytes those columns take in the file). Each measurement is a child process
(`fs_ops.py`): ours under this environment, ossfs's async filesystem under its own venv
(`ossfs_venv.py`); the clients alternate, the order rotating every run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.data import big_file
from benchmarks.ossfs_venv import ossfs_python
from benchmarks.serverproc import ServerProcess

OPS = ("put", "get", "cat", "find", "parquet")
CLIENTS = ("agentbay", "ossfs")
OPS_SCRIPT = Path(__file__).with_name("fs_ops.py")
REPO = Path(__file__).resolve().parent.parent
COLUMNS, READ_COLUMNS = 32, 8
# The targets: ours at least this many times faster than ossfs.
TARGETS = {"put": 3.0, "get": 3.0, "cat": 3.0, "find": 2.0, "parquet": 2.0}
FETCH_BOUND = 1.2  # parquet: bytes fetched / bytes the columns need


@dataclass(frozen=True)
class Sizes:
    big: int
    cat_count: int
    find_count: int
    parquet: int


def sizes(a: Any) -> Sizes:
    """The issue's sizes, --quick's, or the harness's overrides: --big-size (the put/get
    file and the Parquet file), --small-count (cat), --scale-count (find)."""
    base = (
        Sizes(64 << 20, 1_000, 10_000, 64 << 20)
        if a.quick
        else Sizes(1 << 30, 10_000, 100_000, 1 << 30)
    )
    return Sizes(
        a.big_size or base.big,
        a.small_count or base.cat_count,
        a.scale_count or base.find_count,
        a.big_size or base.parquet,
    )


def parquet_file(data_dir: Path, size: int) -> Path:
    """32 int64 columns of random values, uncompressed (its size is its data), row groups of
    a 16th of the file; reused when there."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = data_dir / f"table-{size}.parquet"
    if path.exists():
        return path
    rows = size // (COLUMNS * 8)
    rng = np.random.default_rng(17)
    tmp = path.with_suffix(".tmp")
    data_dir.mkdir(parents=True, exist_ok=True)
    group = max(1, rows // 16)
    schema = pa.schema([(f"c{i:02d}", pa.int64()) for i in range(COLUMNS)])
    with pq.ParquetWriter(tmp, schema, compression="none", use_dictionary=False) as w:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            cols = [pa.array(rng.integers(0, 1 << 62, n)) for _ in range(COLUMNS)]
            w.write_table(pa.table(cols, schema=schema), row_group_size=group)
    os.replace(tmp, path)
    return path


def columns_needed(path: Path, columns: list[str]) -> int:
    """Bytes a reader of `columns` must fetch: their column chunks in every row group, plus
    the footer (metadata and its 8-byte trailer)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    wanted = [names.index(c) for c in columns]
    chunks = sum(
        meta.row_group(g).column(i).total_compressed_size
        for g in range(meta.num_row_groups)
        for i in wanted
    )
    return int(chunks + meta.serialized_size + 8)


class FsBench:
    def __init__(
        self, endpoint: str, region: str, bucket: str, creds: tuple[str, str, str], work: Path
    ) -> None:
        ak, sk, token = creds
        self.options: dict[str, Any] = {
            "endpoint": endpoint, "key": ak, "secret": sk, "token": token, "region": region,
        }  # fmt: skip
        self.bucket = bucket
        self.work = work
        self.python = {"agentbay": Path(sys.executable), "ossfs": ossfs_python(("pyarrow",))}
        from agentbay_oss.fsspec import OssFileSystem

        self.fs = OssFileSystem(**self.options, concurrency=16, skip_instance_cache=True)

    def path(self, rel: str) -> str:
        return f"{self.bucket}/fs/{rel}"

    def child(self, client: str, op: str, request: dict[str, Any], timeout: float) -> Any:
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        if client == "ossfs":
            env.pop("PYTHONPATH", None)
        run = subprocess.run(
            [str(self.python[client]), str(OPS_SCRIPT), client, op],
            input=json.dumps({"options": self.options, **request}),
            capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout,
        )  # fmt: skip
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            tail = " | ".join(run.stderr.strip().splitlines()[-3:])
            return {"ok": False, "error": f"exit {run.returncode}: {tail}"[:400]}
        return {"ok": True, **json.loads(lines[-1][len("RESULT ") :])}


def _check(rec: dict[str, Any], ok: bool, what: str) -> None:
    if rec.get("ok") and not ok:
        rec.update(ok=False, error=f"verification: {what}")


def run_group(
    work: Path, s: Sizes, runs: int, endpoint: str, region: str, bucket: str,
    creds: tuple[str, str, str], timeout: float, server_cpu: Callable[[], float] = lambda: 0.0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """Seed, then measure every op for both clients `runs` times. Returns the records and
    what the report needs (sizes, bytes the Parquet columns need). `server_cpu`: the
    server's CPU seconds so far; each record keeps what its run cost the server (both
    clients share it: where it is the floor, no client can be much faster)."""
    from agentbay_oss.protocol.crc64 import crc64

    data = work / "data"
    bench = FsBench(endpoint, region, bucket, creds, work)
    fs = bench.fs
    big = big_file(data, s.big, "fs")
    ((big_size, big_crc),) = big.manifest.values()
    table = parquet_file(data, s.parquet)
    columns = [f"c{i:02d}" for i in range(0, COLUMNS, COLUMNS // READ_COLUMNS)]
    t0 = time.monotonic()
    fs.put_file(str(big.path), bench.path("big"))
    fs.put_file(str(table), bench.path("table.parquet"))
    cat_paths = [bench.path(f"cat/{i:05d}") for i in range(s.cat_count)]
    fs.pipe({p: os.urandom(4096) for p in cat_paths}, batch_size=256)
    find_paths = [bench.path(f"find/d{i // 1000:03d}/{i:06d}") for i in range(s.find_count)]
    for i in range(0, len(find_paths), 10_000):
        fs.pipe({p: b"" for p in find_paths[i : i + 10_000]}, batch_size=256)
    print(f"# fs: seeded in {time.monotonic() - t0:.1f}s", flush=True)
    needed = columns_needed(table, columns)
    records: list[dict[str, Any]] = []
    for r in range(runs):
        for op in OPS:
            order = CLIENTS[r % 2 :] + CLIENTS[: r % 2]
            for client in order:
                local = work / "fs-dl" / f"{client}-r{r}"
                shutil.rmtree(local.parent, ignore_errors=True)
                local.parent.mkdir(parents=True)
                remote_up = bench.path(f"up/{client}-r{r}")
                requests: dict[str, dict[str, Any]] = {
                    "put": {"local": str(big.path), "remote": remote_up},
                    "get": {"remote": bench.path("big"), "local": str(local)},
                    "cat": {"paths": cat_paths},
                    "find": {"remote": bench.path("find")},
                    "parquet": {"remote": bench.path("table.parquet"), "columns": columns},
                }
                request = requests[op]
                cpu0 = server_cpu()
                rec = bench.child(client, op, request, timeout)
                rec["server_cpu"] = server_cpu() - cpu0
                rec |= {"op": op, "client": client, "run": r}
                if op == "put":
                    info = fs.info(remote_up, refresh=True) if fs.exists(remote_up) else {}
                    crc = fs.checksum(remote_up) if info else None
                    _check(rec, info.get("size") == big_size and crc == big_crc, "put size/crc")
                    fs.rm(remote_up)
                elif op == "get":
                    got = local.read_bytes() if local.exists() else b""
                    _check(rec, len(got) == big_size and crc64(got) == big_crc, "get size/crc")
                elif op == "cat":
                    _check(rec, rec.get("bytes") == 4096 * s.cat_count, "cat bytes")
                elif op == "find":
                    _check(rec, rec.get("items") == s.find_count, "find count")
                else:
                    _check(rec, rec.get("columns") == READ_COLUMNS, "parquet columns")
                shutil.rmtree(local.parent, ignore_errors=True)
                records.append(rec)
                print(progress(rec), flush=True)
    fs.rm(bench.path("")[:-1], recursive=True)
    return records, {"sizes": s, "parquet_needed": needed, "columns": columns}


def progress(rec: dict[str, Any]) -> str:
    if not rec.get("ok"):
        return f"  fs {rec['op']:<8} {rec['client']:<9} FAILED {rec.get('error')}"
    return (
        f"  fs {rec['op']:<8} {rec['client']:<9} {rec['seconds']:8.3f}s "
        f"cpu {rec['cpu']:7.2f}s server cpu {rec.get('server_cpu', 0.0):6.2f}s "
        f"rss {rec['maxrss_kib'] / 1024:7.1f} MiB "
        f"fetched {rec['fetched'] / 2**20:9.1f} MiB"
    )


def _median(records: list[dict[str, Any]], op: str, client: str, field: str) -> float | None:
    values = [r[field] for r in records if r["op"] == op and r["client"] == client and r["ok"]]
    return median(values) if values else None


def render(records: list[dict[str, Any]], info: dict[str, Any]) -> str:
    """The `fs` rows: medians per op and client, the speedup against its target, peak RSS,
    and for Parquet the bytes fetched against the bytes the columns need."""
    s: Sizes = info["sizes"]
    what = {
        "put": f"put_file of one {s.big >> 20} MiB file",
        "get": f"get_file of one {s.big >> 20} MiB file",
        "cat": f"cat of {s.cat_count:,} x 4 KiB (one call, a list)",
        "find": f"find over {s.find_count:,} keys",
        "parquet": f"read_table of {READ_COLUMNS} of {COLUMNS} columns, {s.parquet >> 20} MiB",
    }
    lines = [
        "| fs row | agentbay s | ossfs s | speedup (target) | agentbay RSS MiB | ossfs RSS MiB "
        "| fetched / needed (agentbay, ossfs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in OPS:
        ours, theirs = (_median(records, op, c, "seconds") for c in CLIENTS)
        rss = [_median(records, op, c, "maxrss_kib") for c in CLIENTS]
        speed = f"{theirs / ours:.2f}x" if ours and theirs else "n/a"
        ok = "met" if ours and theirs and theirs / ours >= TARGETS[op] else "NOT met"
        fetch = ""
        if op == "parquet":
            ratios = [_median(records, op, c, "fetched") for c in CLIENTS]
            fetch = (
                ", ".join(f"{x / info['parquet_needed']:.2f}" if x else "n/a" for x in ratios)
                + f" (bound {FETCH_BOUND})"
            )
        cells = [
            what[op],
            f"{ours:.3f}" if ours else "FAILED",
            f"{theirs:.3f}" if theirs else "FAILED",
            f"{speed} ({TARGETS[op]:g}x: {ok})",
            *(f"{x / 1024:.0f}" if x else "n/a" for x in rss),
            fetch,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in records if not r.get("ok")]
    for r in failed:
        lines.append(f"\nFAILED: fs {r['op']} {r['client']} run {r['run']}: {r.get('error')}")
    return "\n".join(lines)


def main(
    a: Any, work: Path, creds: tuple[str, str, str], region: str, bucket: str
) -> tuple[str, list[dict[str, Any]]]:
    """Run the group on a server of its own: the rendered rows, and the records."""
    root = work / "server-root-fs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ak, sk, token = creds
    runs = a.runs or (1 if a.quick else 3)
    with ServerProcess(
        root, ak=ak, sk=sk, token=token, region=region, buckets=[bucket], public_buckets=[],
        log=work / "server-fs.log",
    ) as server:  # fmt: skip
        records, info = run_group(
            work, sizes(a), runs, server.endpoint, region, bucket, creds, a.timeout,
            server.cpu_seconds,
        )  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)
    return render(records, info), records


__all__ = ["main", "render", "run_group", "sizes"]
