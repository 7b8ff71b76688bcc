"""One client run in a fresh process: `python -m benchmarks.runner CLIENT WORKLOAD DIRECTION ...`.

The harness starts one of these per measurement, so the peak RSS and CPU seconds reported
belong to this client alone (the server runs in another process). The last stdout line is
`RESULT {json}`. Credentials come from the environment (BENCH_AK, BENCH_SK, BENCH_TOKEN),
never from argv.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks.clients import CHILD_PROCESS_CLIENTS, CLIENTS, NEEDS_NAMES, Ctx
from benchmarks.pipes import Received


class Timer:
    """Wall time and CPU (user+sys, all threads) of the transfer itself, not of imports/setup;
    with `children`, the CPU of the child processes it waited for (a client that is a program)."""

    def __init__(self, children: bool = False) -> None:
        self._who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
        self.seconds = 0.0
        self.cpu_user = 0.0
        self.cpu_sys = 0.0
        self.minor_faults = 0
        self.ctx_switches = 0
        self.rss_before_kib = 0
        self._t0 = 0.0
        self._ru0: Any = None

    def __enter__(self) -> Timer:
        # Every client starts from a collected heap. CPython runs a full collection once enough
        # allocations piled up, so whether one fell inside a short transfer depended on what
        # the client's setup had allocated, not on the transfer: agentbay-sync's setup left
        # one due in its `mid` download (about 30 ms CPU of 0.5 s), agentbay-async's did not.
        gc.collect()
        self._ru0 = resource.getrusage(self._who)
        self.rss_before_kib = peak_rss_kib()
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.seconds = time.perf_counter() - self._t0
        ru1 = resource.getrusage(self._who)
        self.cpu_user = ru1.ru_utime - self._ru0.ru_utime
        self.cpu_sys = ru1.ru_stime - self._ru0.ru_stime
        # Diagnostics for CPU spent in the kernel: page faults, context switches.
        self.minor_faults = ru1.ru_minflt - self._ru0.ru_minflt
        self.ctx_switches = (ru1.ru_nvcsw + ru1.ru_nivcsw) - (
            self._ru0.ru_nvcsw + self._ru0.ru_nivcsw
        )


def peak_rss_kib() -> int:
    """Peak RSS of this process image, in KiB.

    VmHWM (Linux) rather than ru_maxrss: Linux keeps ru_maxrss across execve, so a child
    would report the harness's own peak if that was higher.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child_peak_rss_kib() -> int:
    """Peak RSS of the largest child process waited for, in KiB (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def _verify_download(
    ctx: Ctx, manifest: dict[str, tuple[int, int]], received: Received | None
) -> str:
    """Size and CRC64 of every downloaded file against the manifest (cheap: ~10 GB/s), or of
    what a stream client delivered (counted by the pipe's sink or the consumer loop)."""
    from agentbay_oss.protocol.crc64 import crc64

    if received is not None:
        ((size, want_crc),) = manifest.values()
        if received != (size, want_crc):
            raise RuntimeError(f"received {received}, want size {size} crc64 {want_crc}")
        return "size+crc64 (stream)"
    if ctx.kind == "big":
        found = {ctx.dest.name: ctx.dest}
    elif any("/" in name for name in manifest):
        # A nested tree (workload "scale"): by relative path.
        found = {p.relative_to(ctx.dest).as_posix(): p for p in ctx.dest.rglob("*") if p.is_file()}
    else:
        # Match by base name: flat data sets, whatever layout a client chose.
        found = {p.name: p for p in ctx.dest.rglob("*") if p.is_file()}
    missing = [name for name in manifest if name not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(manifest)} files missing, e.g. {missing[0]}")
    for name, (size, want_crc) in manifest.items():
        path = found[name]
        if path.stat().st_size != size:
            raise RuntimeError(f"{name}: size {path.stat().st_size} != {size}")
        crc = 0
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(8 * 2**20):
                crc = crc64(chunk, crc)
        if crc != want_crc:
            raise RuntimeError(f"{name}: crc64 {crc} != {want_crc}")
    return "size+crc64"


def _manifest(path: Path) -> dict[str, tuple[int, int]]:
    raw = json.loads(path.read_text())
    return {k: (int(v[0]), int(v[1])) for k, v in raw.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.runner")
    p.add_argument("client", choices=sorted(CLIENTS))
    p.add_argument("workload")
    p.add_argument("direction", choices=["up", "down"])
    p.add_argument("--kind", choices=["big", "files"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="cn-hangzhou")
    p.add_argument("--bucket", required=True)
    p.add_argument("--public-bucket", required=True)
    p.add_argument("--src", type=Path, required=True, help="local data: the file or directory")
    p.add_argument("--key", required=True, help="object key, or prefix ending with /")
    p.add_argument("--dest", type=Path, required=True, help="download target (file or dir)")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--part-size", type=int, required=True)
    p.add_argument("--work", type=Path, required=True, help="scratch dir (checkpoints)")
    a = p.parse_args(argv)
    # The manifest (about 100 bytes a file) is read before the transfer only by the clients
    # that need the names (raw-*): for the others it would be part of their peak RSS.
    needs_names = a.client in NEEDS_NAMES and a.kind == "files"
    ctx = Ctx(
        client=a.client,
        workload=a.workload,
        direction=a.direction,
        kind=a.kind,
        endpoint=a.endpoint,
        region=a.region,
        ak=os.environ["BENCH_AK"],
        sk=os.environ["BENCH_SK"],
        token=os.environ["BENCH_TOKEN"],
        bucket=a.bucket,
        public_bucket=a.public_bucket,
        src=a.src,
        key=a.key,
        dest=a.dest,
        names=sorted(_manifest(a.manifest)) if needs_names else [],
        concurrency=a.concurrency,
        part_size=a.part_size,
        work=a.work,
    )
    child = a.client in CHILD_PROCESS_CLIENTS
    timer = Timer(children=child)
    out: dict[str, Any] = {"ok": False}
    try:
        received = CLIENTS[a.client](ctx, timer)
        # Peak RSS of the transfer, taken before verification reads anything.
        out["maxrss_kib"] = child_peak_rss_kib() if child else peak_rss_kib()
        out |= ctx.report
        if a.direction == "down":
            out["verified"] = _verify_download(ctx, _manifest(a.manifest), received)
        else:
            out["verified"] = "by harness"
        out["ok"] = True
    except Exception as e:  # a failed client is a result to report, not a crash
        tb = traceback.format_exc(limit=3)
        out["error"] = f"{type(e).__name__}: {e}"[:400].replace(ctx.sk, "***")
        print(tb.replace(ctx.sk, "***"), file=sys.stderr)
    finally:
        if a.direction == "down" and ctx.kind == "big":
            # Free the disk at once: a full run moves tens of GiB. (Trees of small files are
            # removed by the harness, see Bench.measure.)
            ctx.dest.unlink(missing_ok=True)
    out.update(
        seconds=timer.seconds,
        cpu_user=timer.cpu_user,
        cpu_sys=timer.cpu_sys,
        minor_faults=timer.minor_faults,
        ctx_switches=timer.ctx_switches,
        rss_before_kib=timer.rss_before_kib,
    )
    out.setdefault("maxrss_kib", peak_rss_kib())
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
