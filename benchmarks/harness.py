"""`python -m benchmarks`: start the local server, generate data, measure every client.

Each measurement is one child process (`python -m benchmarks.runner`); runs interleave the
clients (the order rotates every run) so a slow spell on the machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import fsbench, profiling, report
from benchmarks.clients import CLIENTS, DIRECTIONS, GROUP_CLIENTS
from benchmarks.data import PER_DIR, Dataset, big_file, file_tree, nested_tree
from benchmarks.serverproc import ServerProcess

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
AK, SK, TOKEN = "bench-ak", "bench-sk-not-a-secret", "bench-sts-token"
REGION = "cn-hangzhou"
BUCKET, PUBLIC = "bench", "bench-public"


class Workload(NamedTuple):
    group: str  # the clients that run it (clients.GROUP_CLIENTS)
    concurrency: int | None = None  # None: --concurrency
    slow: bool = False  # against the second server, the one with --latency-ms


# `stream` moves a file of --stream-size through pipes and compares it with the same file
# uploaded / downloaded by agentbay-async; `1gib-c1` is the 1gib file at concurrency 1,
# agentbay-async against raw-1. issue 15: `scale` is a tree of --scale-count 1 KiB files
# (directory upload, download, a no-op sync_upload and one after 1% changed), `scale-ref` the
# same at a tenth of the count (files/s must not drop with size); `latency` is
# --latency-count 4 KiB files at concurrency 64 against a server that delays every request
# by --latency-ms, `latency-c8` the same at concurrency 8 (CPU per file).
WORKLOADS: dict[str, Workload] = {
    "1gib": Workload("big"),
    "small": Workload("files"),
    "mid": Workload("files"),
    "stream": Workload("stream"),
    "1gib-c1": Workload("c1", 1),
    "scale": Workload("scale"),
    "scale-ref": Workload("scale"),
    "latency": Workload("latency", 64, slow=True),
    "latency-c8": Workload("latency-c8", 8, slow=True),
    # issue 17: OssFileSystem beside ossfs (benchmarks/fsbench.py runs the whole group)
    "fs": Workload("fs"),
}
# What a run without --workloads measures (issue 15's rows are asked for by name).
DEFAULT_WORKLOADS = ["1gib", "small", "mid", "stream", "1gib-c1"]
ISSUE_15 = ["scale", "scale-ref", "latency", "latency-c8"]
# The sync_upload clients of `scale` (clients.py), and the share of files the harness gives
# a newer mtime before each: the server must then hold exactly those as rewritten.
SYNC_CHANGES = {"agentbay-syncup-noop": 0.0, "agentbay-syncup-1pct": 0.01}
# Downloaded trees of this many files or more are deleted at the end, not after each run:
# the benchmark disk is ext4 without a journal, where creating a file soon after thousands
# were deleted costs ~100 us more (find_inode_bit checks every recently freed inode's dtime;
# measured: 10,000 creates 70-126 us each right after deleting 10,000, 10 us otherwise). That
# penalty landed on whichever client ran after a delete, and weighed most on the fastest.
DEFER_DELETE_FILES = 1000
UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 2**10, "m": 10**6, "mb": 10**6}
UNITS |= {"mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 8MiB, 64MiB, 1GiB)")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="agentbay_oss vs oss2, alibabacloud-oss-v2 and raw aiohttp, on a local server.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="64 MiB (big file and stream), 1,000 small files, 1 run",
    )
    p.add_argument("--runs", type=int, help="runs per measurement (default 3, --quick 1)")
    p.add_argument(
        "--workloads",
        nargs="+",
        choices=list(WORKLOADS),
        default=DEFAULT_WORKLOADS,
        help=f"default: {' '.join(DEFAULT_WORKLOADS)}; issue 15's: {' '.join(ISSUE_15)}; issue 17's: fs",
    )
    p.add_argument("--clients", nargs="+", choices=sorted(CLIENTS), help="default: all")
    p.add_argument("--directions", nargs="+", choices=["up", "down"], default=["up", "down"])
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--part-size", type=parse_size, default=8 * 2**20)
    p.add_argument("--fail-rate", type=float, default=0.0, help="server: 503 rate")
    p.add_argument("--reset-rate", type=float, default=0.0, help="server: dropped connections")
    p.add_argument("--big-size", type=parse_size, help="override (default 1GiB, --quick 64MiB)")
    p.add_argument("--stream-size", type=parse_size, help="override (default 2GiB, --quick 64MiB)")
    p.add_argument("--small-count", type=int, help="override (default 10000, --quick 1000)")
    p.add_argument("--mid-count", type=int, help="override (default 200)")
    p.add_argument(
        "--scale-count",
        type=int,
        help="files of 1 KiB in `scale` (default 200000, --quick 20000; `scale-ref`: a tenth)",
    )
    p.add_argument(
        "--scale-ref-count",
        type=int,
        help="files of 1 KiB in `scale-ref` (default a tenth of --scale-count; issue 15: 10000)",
    )
    p.add_argument(
        "--latency-count",
        type=int,
        help="files of 4 KiB in `latency` / `latency-c8` (default 10000, --quick 1000)",
    )
    p.add_argument(
        "--latency-ms", type=int, default=20, help="the latency workloads' server delay (20)"
    )
    p.add_argument("--work", type=Path, default=ROOT / ".work", help="data and scratch")
    p.add_argument("--results", type=Path, default=ROOT / "RESULTS.md", help="append here")
    p.add_argument("--no-record", action="store_true", help="print only, do not append")
    p.add_argument("--timeout", type=float, default=900.0, help="per client run, seconds")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="renice the harness, server and clients (e.g. -10 on a shared machine; needs root)",
    )
    p.add_argument("--json", type=Path, help="also write every raw measurement here")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy each client run and the server into DIR (implies --no-record)",
    )
    return p


def _oss2_bucket(endpoint: str, name: str) -> Any:
    import oss2

    oss2.defaults.connection_pool_size = 16
    return oss2.Bucket(oss2.StsAuth(AK, SK, TOKEN), endpoint, name)


def _retry(fn: Any, *args: Any, tries: int = 20) -> Any:
    # Seeding and cleanup must survive --fail-rate / --reset-rate; they are not measured.
    for i in range(tries):
        try:
            return fn(*args)
        except Exception:
            if i == tries - 1:
                raise
            time.sleep(0.05 * (i + 1))
    return None


class Bench:
    def __init__(self, a: argparse.Namespace, endpoint: str, server: ServerProcess) -> None:
        self.a = a
        self.endpoint = endpoint
        self.server = server
        self.buckets = {
            BUCKET: _oss2_bucket(endpoint, BUCKET),
            PUBLIC: _oss2_bucket(endpoint, PUBLIC),
        }
        self.scratch = a.work / "scratch"
        self.deferred: list[Path] = []
        self.seeded: set[tuple[str, Path]] = set()

    # -- server-side setup, verification and cleanup (not measured) --

    def create_buckets(self) -> None:
        import oss2

        for b in self.buckets.values():
            # The server's --bucket / --public-bucket flags normally made them already.
            try:
                _retry(b.create_bucket)
            except oss2.exceptions.ServerError as e:
                if e.status != 409:  # BucketAlreadyExists
                    raise

    def seed(self, ds: Dataset, buckets: list[str]) -> None:
        """Put the data set under `src/` in `buckets`, for the downloads (once per file)."""

        for name in buckets:
            if (name, ds.path) in self.seeded:
                continue
            self.seeded.add((name, ds.path))
            b = self.buckets[name]
            if ds.kind == "big":
                # One plain PutObject: simple, streamed by both ends, and not measured.
                _retry(b.put_object_from_file, f"src/{ds.path.name}", str(ds.path))
                continue
            prefix = f"src/{ds.path.name}/"
            if WORKLOADS[ds.name].group == "scale":
                self.seed_tree(ds, name, prefix)
                continue
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda n, b=b, prefix=prefix: _retry(
                            b.put_object_from_file, prefix + n, str(ds.path / n)
                        ),
                        ds.manifest,
                    )
                )

    def seed_tree(self, ds: Dataset, bucket: str, prefix: str) -> None:
        """A tree of up to millions of files, seeded with our own directory upload: oss2's
        16 threads managed 230 files/s in a trial (loaded machine), longer than all of the
        measurements at 200,000 files. It cannot hide a fault of our client: downloads are
        checked against the manifest, taken from the local files when they were generated."""
        import asyncio

        from agentbay_oss.aio import AsyncAgentBay

        async def run() -> None:
            created = await AsyncAgentBay(config={"concurrency": 16}).create()
            session = created.session
            try:
                init = await session.oss.env_init(
                    access_key_id=AK,
                    access_key_secret=SK,
                    securityToken=TOKEN,
                    endpoint=self.endpoint,
                    region=REGION,
                )
                if not init.success:
                    raise RuntimeError(f"seeding: {init.error_message}")
                done = await session.oss.upload(bucket, prefix.rstrip("/"), str(ds.path))
                if not done.success or done.files != ds.files:
                    raise RuntimeError(f"seeding {ds.path}: {done.error_message or done.files}")
            finally:
                await session.delete()

        asyncio.run(run())

    def verify_upload(self, ds: Dataset, bucket: str, key: str) -> str:
        """Check what a client uploaded: sizes of all objects, CRC64 of the big one / a sample."""
        import oss2

        b = self.buckets[bucket]
        if ds.kind == "big":
            ((size, crc),) = ds.manifest.values()
            h = _retry(b.head_object, key)
            if h.content_length != size:
                raise RuntimeError(f"uploaded size {h.content_length} != {size}")
            got = h.headers.get("x-oss-hash-crc64ecma")
            if got is not None and int(got) != crc:
                raise RuntimeError(f"uploaded crc64 {got} != {crc}")
            return "size+crc64" if got is not None else "size"
        listed = _retry(lambda: {o.key: o.size for o in oss2.ObjectIteratorV2(b, prefix=key)})
        want = {key + n: s for n, (s, _) in ds.manifest.items()}
        if listed != want:
            extra = sorted(set(listed) - set(want))[:2]
            missing = sorted(set(want) - set(listed))[:2]
            raise RuntimeError(
                f"listing mismatch: {len(listed)} objects, want {len(want)};"
                f" missing {missing}, unexpected {extra}"
            )
        for name in random.Random(0).sample(sorted(ds.manifest), min(10, ds.files)):
            got = _retry(b.head_object, key + name).headers.get("x-oss-hash-crc64ecma")
            if got is not None and int(got) != ds.manifest[name][1]:
                raise RuntimeError(f"{name}: uploaded crc64 {got} != {ds.manifest[name][1]}")
        return "size+crc64 sample"

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        import oss2

        b = self.buckets[bucket]
        keys = _retry(lambda: [o.key for o in oss2.ObjectIteratorV2(b, prefix=prefix)])
        for i in range(0, len(keys), 1000):
            _retry(b.batch_delete_objects, keys[i : i + 1000])
        uploads = _retry(lambda: list(oss2.MultipartUploadIterator(b, prefix=prefix)))
        for u in uploads:
            _retry(b.abort_multipart_upload, u.key, u.upload_id)

    # -- measurement --

    def measure(self, ds: Dataset, client: str, direction: str, run: int) -> dict[str, Any]:
        raw = client.startswith("raw-")
        bucket = PUBLIC if raw else BUCKET
        concurrency = WORKLOADS[ds.name].concurrency or self.a.concurrency
        up_prefix = f"up/{client}/{ds.name}/r{run}/"
        sync_share = SYNC_CHANGES.get(client)
        if ds.kind == "big":
            key = up_prefix + ds.path.name if direction == "up" else f"src/{ds.path.name}"
        elif direction == "up" and sync_share is None:
            key = f"{up_prefix}{ds.path.name}/"
        else:
            key = f"src/{ds.path.name}/"  # downloads, and syncs onto the seeded copy
        dest = self.a.work / "dl" / f"{client}-{ds.name}-r{run}"
        shutil.rmtree(dest, ignore_errors=True)
        if ds.kind == "big":
            dest.mkdir(parents=True)
            dest = dest / ds.path.name
        ckpt = self.scratch / f"{client}-{ds.name}-{direction}-r{run}"
        ckpt.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "benchmarks.runner", client, ds.name, direction]
        cmd += ["--kind", ds.kind, "--endpoint", self.endpoint, "--region", REGION]
        cmd += ["--bucket", BUCKET, "--public-bucket", PUBLIC, "--src", str(ds.path)]
        cmd += ["--key", key, "--dest", str(dest), "--manifest", str(ds.manifest_path)]
        cmd += ["--concurrency", str(concurrency), "--part-size", str(self.a.part_size)]
        cmd += ["--work", str(ckpt)]
        env = dict(os.environ, BENCH_AK=AK, BENCH_SK=SK, BENCH_TOKEN=TOKEN)
        rec: dict[str, Any] = {"workload": ds.name, "direction": direction, "client": client}
        rec |= {"run": run, "bytes": ds.total_bytes, "files": ds.files, "concurrency": concurrency}
        spy = None
        if self.a.profile:
            name = f"{client}-{ds.name}-{direction}-r{run}"
            cmd = profiling.client_prefix(self.a.profile / f"{name}.client.txt") + cmd
            assert self.server.proc is not None
            spy = profiling.start_server_recording(
                self.server.proc.pid, self.a.profile / f"{name}.server.txt"
            )
            time.sleep(0.5)  # let py-spy attach before the transfer starts
        if sync_share is not None:
            since, changed = self.change_files(ds, sync_share, run)
        cpu0 = self.server.cpu_seconds()
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=self.a.timeout
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if not lines:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                rec |= {"ok": False, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
            else:
                rec |= json.loads(lines[-1][len("RESULT ") :])
        except subprocess.TimeoutExpired:
            rec |= {"ok": False, "error": f"timeout after {self.a.timeout:.0f}s"}
        rec["server_cpu"] = self.server.cpu_seconds() - cpu0
        if spy is not None:
            profiling.stop_recording(spy)
            top = profiling.summarize(self.a.profile / f"{name}.client.txt")
            top += profiling.summarize(self.a.profile / f"{name}.server.txt")
            (self.a.profile / f"{name}.top.txt").write_text(top)
        if sync_share is not None:
            if rec.get("ok"):
                try:
                    rec["verified"] = self.verify_sync(ds, key, since, changed, rec)
                except Exception as e:
                    rec |= {"ok": False, "error": f"sync verification: {e}"}
        elif direction == "up":
            if rec.get("ok"):
                try:
                    rec["verified"] = self.verify_upload(ds, bucket, key)
                except Exception as e:
                    rec |= {"ok": False, "error": f"upload verification: {e}"}
            self.delete_prefix(bucket, up_prefix)
        if ds.files >= DEFER_DELETE_FILES:
            self.deferred.append(dest)
        else:
            shutil.rmtree(dest.parent if ds.kind == "big" else dest, ignore_errors=True)
        shutil.rmtree(ckpt, ignore_errors=True)
        # Flush dirty pages now, so this run's writeback does not slow the next client's run.
        os.sync()
        self.quiesce()
        return rec

    def change_files(self, ds: Dataset, share: float, run: int) -> tuple[int, list[str]]:
        """Before a sync_upload: give `share` of the files (a different slice each run) a
        newer mtime, content unchanged. Returns the first whole second after every earlier
        write (what the sync rewrites has a Last-Modified from then on) and the files."""
        since = math.floor(time.time()) + 1
        time.sleep(max(0.0, since - time.time()))
        names = sorted(ds.manifest)
        step = round(1 / share) if share else 0
        changed = names[run % step :: step] if step else []
        now = time.time_ns()
        for rel in changed:
            os.utime(ds.path / rel, ns=(now, now))
        return since, changed

    def verify_sync(
        self, ds: Dataset, prefix: str, since: int, changed: list[str], rec: dict[str, Any]
    ) -> str:
        """At the server, exactly the changed files were rewritten (the objects with a
        Last-Modified from `since` on), and the client's counts say the same."""
        import oss2

        b = self.buckets[BUCKET]
        listed = _retry(
            lambda: {
                o.key
                for o in oss2.ObjectIteratorV2(b, prefix=prefix, max_keys=1000)
                if o.last_modified >= since
            }
        )
        want = {prefix + rel for rel in changed}
        if listed != want:
            extra, missing = sorted(listed - want)[:2], sorted(want - listed)[:2]
            raise RuntimeError(
                f"server: {len(listed)} objects rewritten, want {len(want)};"
                f" missing {missing}, unexpected {extra}"
            )
        if (rec.get("sent"), rec.get("skipped")) != (len(want), ds.files - len(want)):
            raise RuntimeError(
                f"client: sent {rec.get('sent')}, skipped {rec.get('skipped')};"
                f" want {len(want)}, {ds.files - len(want)}"
            )
        rec["rewritten"] = len(listed)
        return f"server: {len(listed)} of {ds.files} objects rewritten"

    def delete_deferred(self) -> None:
        for d in self.deferred:
            shutil.rmtree(d, ignore_errors=True)
        self.deferred.clear()

    def quiesce(self, limit: float = 30.0) -> None:
        """Wait until the server is idle (e.g. done unlinking the blobs of deleted objects),
        so its background work never lands in the next client's measurement."""
        deadline = time.monotonic() + limit
        last = self.server.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.server.cpu_seconds()
            if now - last < 0.01:
                return
            last = now


def _clients_for(ds: Dataset, wanted: list[str] | None) -> list[str]:
    pool = GROUP_CLIENTS[WORKLOADS[ds.name].group]
    return [c for c in pool if wanted is None or c in wanted]


def _buckets_for(clients: list[str]) -> list[str]:
    """Where the downloads read from: the private bucket, the public one for raw clients."""
    return sorted({PUBLIC if c.startswith("raw-") else BUCKET for c in clients})


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    runs = a.runs or (1 if a.quick else 3)
    big_size = a.big_size or (64 * 2**20 if a.quick else 2**30)
    stream_size = a.stream_size or (64 * 2**20 if a.quick else 2 * 2**30)
    small_count = a.small_count or (1000 if a.quick else 10_000)
    mid_count = a.mid_count or 200
    scale_count = a.scale_count or (20_000 if a.quick else 200_000)
    scale_ref_count = a.scale_ref_count or max(1, scale_count // 10)
    latency_count = a.latency_count or (1000 if a.quick else 10_000)
    a.work = a.work.resolve()
    if a.nice:
        os.nice(a.nice)  # inherited by the server and every client child
    if a.profile:
        a.no_record = True
        a.profile = a.profile.resolve()
        a.profile.mkdir(parents=True, exist_ok=True)
        profiling.py_spy()
    command = "uv run --python python3 python -m benchmarks " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    machine = report.machine()
    print(f"# {command}\n# {machine['summary']}", flush=True)
    if "fs" in a.workloads:
        a.workloads = [w for w in a.workloads if w != "fs"]
        fs_text, fs_records = fsbench.main(a, a.work, (AK, SK, TOKEN), REGION, BUCKET)
        print(fs_text, flush=True)
        if a.json and not a.workloads:
            a.json.write_text(json.dumps(fs_records, indent=1))
        if not a.no_record:
            with open(a.results, "a") as f:
                f.write(f"\n### `{command}`\n{machine['summary']}\n\n{fs_text}\n")
        if not a.workloads:
            return 0 if "FAILED" not in fs_text else 1

    t0 = time.monotonic()
    data_dir = a.work / "data"
    datasets: list[Dataset] = []
    for w in a.workloads:
        if w in ("1gib", "1gib-c1"):
            datasets.append(big_file(data_dir, big_size, w))
        elif w == "stream":
            datasets.append(big_file(data_dir, stream_size, w))
        elif w == "small":
            datasets.append(file_tree(data_dir, "small", small_count, 4 * 2**10))
        elif w == "mid":
            datasets.append(file_tree(data_dir, "mid", mid_count, 2**20))
        elif w in ("scale", "scale-ref"):
            count = scale_count if w == "scale" else scale_ref_count
            datasets.append(nested_tree(data_dir, w, count, 2**10))
        else:  # latency, latency-c8: the small files' shape (shared with `small` if equal)
            datasets.append(file_tree(data_dir, "small", latency_count, 4 * 2**10, name=w))
    print(f"# data ready in {time.monotonic() - t0:.1f}s", flush=True)

    for d in ("dl", "scratch"):
        shutil.rmtree(a.work / d, ignore_errors=True)
    records: list[dict[str, Any]] = []
    roots: list[Path] = []
    with contextlib.ExitStack() as stack:
        # One server for the loopback workloads, another with --latency-ms for the slow ones.
        benches: dict[bool, Bench] = {}
        for slow in sorted({WORKLOADS[ds.name].slow for ds in datasets}):
            tag = "-latency" if slow else ""
            roots.append(a.work / f"server-root{tag}")
            shutil.rmtree(roots[-1], ignore_errors=True)
            roots[-1].mkdir(parents=True)
            (a.work / f"server{tag}.log").write_text("")
            server = ServerProcess(
                roots[-1],
                ak=AK,
                sk=SK,
                token=TOKEN,
                region=REGION,
                buckets=[BUCKET],
                public_buckets=[PUBLIC],
                fail_rate=a.fail_rate,
                reset_rate=a.reset_rate,
                latency_ms=a.latency_ms if slow else 0,
                log=a.work / f"server{tag}.log",
            )
            stack.enter_context(server)
            benches[slow] = Bench(a, server.endpoint, server)
            benches[slow].create_buckets()
        t1 = time.monotonic()
        for ds in datasets:
            bench = benches[WORKLOADS[ds.name].slow]
            bench.seed(ds, _buckets_for(_clients_for(ds, a.clients)))
        os.sync()  # the seeded GiBs must not be written back during the first measurement
        for bench in benches.values():
            bench.quiesce()
        where = ", ".join(b.endpoint for b in benches.values())
        print(f"# server {where}, seeded in {time.monotonic() - t1:.1f}s", flush=True)
        for run in range(runs):
            for ds in datasets:
                bench = benches[WORKLOADS[ds.name].slow]
                clients = _clients_for(ds, a.clients)
                k = run % max(1, len(clients))
                clients = clients[k:] + clients[:k]
                for direction in a.directions:
                    for c in (c for c in clients if direction in DIRECTIONS[c]):
                        rec = bench.measure(ds, c, direction, run)
                        records.append(rec)
                        print(report.progress_line(rec), flush=True)
        for bench in benches.values():
            bench.delete_deferred()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)

    settings = {
        "runs": runs,
        "concurrency": a.concurrency,
        "part_size": a.part_size,
        "big_size": big_size,
        "stream_size": stream_size,
        "small_count": small_count,
        "mid_count": mid_count,
        "workloads": list(a.workloads),
        "scale_count": scale_count,
        "scale_ref_count": scale_ref_count,
        "scale_per_dir": PER_DIR,
        "latency_count": latency_count,
        "latency_ms": a.latency_ms,
        "fail_rate": a.fail_rate,
        "reset_rate": a.reset_rate,
        "elapsed": time.monotonic() - t0,
        "nice": a.nice,
        "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    text = report.render(records, settings, machine, command)
    print(text)
    if a.json:
        a.json.write_text(json.dumps(records, indent=1))
    if not a.no_record:
        with open(a.results, "a") as f:
            f.write("\n" + text)
        print(f"# appended to {a.results}")
    return 0 if all(r.get("ok") for r in records) else 1
