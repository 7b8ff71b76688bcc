"""Medians, ratios and the Markdown written to RESULTS.md (pure functions over records)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

MB = 1e6  # MB/s means 10^6 bytes per second; RSS is in MiB
REF = "agentbay-async"
RAW = ("raw-1", "raw-n")


def machine() -> dict[str, str]:
    cpu = "unknown CPU"
    mem = "? GiB"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (+ uncommitted changes)"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit,
        "load": load,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    info["summary"] = (
        f"{info['nproc']} cores, {cpu}, {mem} RAM, Python {info['python']}, {info['os']},"
        f" load at start {load}"
    )
    return info


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return out.stdout.strip()
    except OSError:
        return "?"


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


def progress_line(r: dict[str, Any]) -> str:
    head = f"{r['workload']:>10} {r['direction']:>4} {r['client']:<20} run {r['run']}"
    if not r.get("ok"):
        return f"{head}  FAILED: {r.get('error')}"
    s = r["seconds"]
    return (
        f"{head}  {r['bytes'] / MB / s:8.1f} MB/s {r['files'] / s:9.1f} files/s"
        f"  {s:7.2f}s  rss {r['maxrss_kib'] / 1024:6.1f} MiB"
        f"  cpu {r['cpu_user'] + r['cpu_sys']:6.2f}s  server cpu {r['server_cpu']:6.2f}s"
    )


class Row:
    """The median over the successful runs of one (workload, direction, client)."""

    def __init__(self, recs: list[dict[str, Any]]) -> None:
        ok = [r for r in recs if r.get("ok")]
        self.workload, self.direction, self.client = (
            recs[0]["workload"],
            recs[0]["direction"],
            recs[0]["client"],
        )
        self.runs, self.failed = len(ok), len(recs) - len(ok)
        self.errors = sorted({str(r.get("error")) for r in recs if not r.get("ok")})
        self.verified = ", ".join(sorted({str(r.get("verified")) for r in ok}))
        self.mbps = self.fps = self.cpu_per_gb = self.server_cpu_per_gb = 0.0
        self.mbps_min = self.mbps_max = 0.0
        self.rss_mib = 0.0
        self.files = self.concurrency = 0
        self.seconds = self.cpu_per_file = 0.0
        # What the server shows a sync rewrote, per run (issue 15's sync rows).
        self.rewritten = sorted({int(r["rewritten"]) for r in ok if "rewritten" in r})
        if ok:
            self.files, self.concurrency = ok[0]["files"], ok[0].get("concurrency", 0)
            self.seconds = statistics.median(r["seconds"] for r in ok)
            self.cpu_per_file = statistics.median(
                (r["cpu_user"] + r["cpu_sys"]) / r["files"] for r in ok
            )
            speeds = [r["bytes"] / MB / r["seconds"] for r in ok]
            self.mbps = statistics.median(speeds)
            self.mbps_min, self.mbps_max = min(speeds), max(speeds)
            self.fps = statistics.median(r["files"] / r["seconds"] for r in ok)
            self.cpu_per_gb = statistics.median(
                (r["cpu_user"] + r["cpu_sys"]) / (r["bytes"] / 1e9) for r in ok
            )
            self.server_cpu_per_gb = statistics.median(
                r["server_cpu"] / (r["bytes"] / 1e9) for r in ok
            )
            # Peak over runs, not median: the memory bound must hold every time.
            self.rss_mib = max(r["maxrss_kib"] for r in ok) / 1024

    @property
    def ok(self) -> bool:
        return self.runs > 0


def rows(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], Row]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["workload"], r["direction"], r["client"])].append(r)
    return {k: Row(v) for k, v in groups.items()}


def ratio(
    table: dict[tuple[str, str, str], Row], w: str, d: str, other: str, ref_client: str = REF
) -> float | None:
    """Speed of `ref_client` (agentbay-async) over `other` (> 1: `ref_client` is faster)."""
    ref, row = table.get((w, d, ref_client)), table.get((w, d, other))
    if not ref or not row or not ref.ok or not row.ok:
        return None
    return ref.mbps / row.mbps


def raw_best(table: dict[tuple[str, str, str], Row], w: str, d: str) -> Row | None:
    cands = [table[(w, d, c)] for c in RAW if (w, d, c) in table and table[(w, d, c)].ok]
    return max(cands, key=lambda r: r.mbps) if cands else None


def _fmt(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def results_table(table: dict[tuple[str, str, str], Row]) -> str:
    out = [
        "| workload | dir | client | MB/s | MB/s min-max | files/s | agentbay-async ÷ this |"
        " peak RSS MiB | CPU s/GB | server CPU s/GB | runs ok |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (w, d, c), row in table.items():
        if not row.ok:
            err = "; ".join(row.errors)[:160].replace("|", "/")
            out.append(f"| {w} | {d} | {c} | FAILED | | | | | | | 0/{row.failed}: {err} |")
            continue
        r = ratio(table, w, d, c)
        out.append(
            f"| {w} | {d} | {c} | {row.mbps:.1f} | {row.mbps_min:.0f}-{row.mbps_max:.0f} |"
            f" {row.fps:.0f} | {_fmt(r, '.2f', 'x')} |"
            f" {row.rss_mib:.0f} | {row.cpu_per_gb:.2f} | {row.server_cpu_per_gb:.2f} |"
            f" {row.runs}/{row.runs + row.failed} |"
        )
    return "\n".join(out)


Target = tuple[str, str, str, str]  # label, need, measured, verdict


def _target(label: str, need: float, got: float | None, what: str) -> Target:
    if got is None:
        return (label, f">= {need:g}x {what}", "n/a", "not measured")
    return (label, f">= {need:g}x {what}", f"{got:.2f}x", "met" if got >= need else "MISSED")


def targets(table: dict[tuple[str, str, str], Row], settings: dict[str, Any]) -> str:
    """issues 5, 13 and 15's target rows, computed from the numbers (never asserted)."""
    rows_: list[Target] = []
    t = table

    def raw_ratio(w: str, d: str) -> float | None:
        best, ref = raw_best(t, w, d), t.get((w, d, REF))
        return ref.mbps / best.mbps if best and ref and ref.ok else None

    rows_.append(_target("1 GiB upload", 1.5, ratio(t, "1gib", "up", "oss2-eq"), "oss2"))
    rows_.append(_target("1 GiB upload", 1.3, ratio(t, "1gib", "up", "v2-eq"), "oss-v2"))
    rows_.append(_target("1 GiB upload", 0.8, raw_ratio("1gib", "up"), "best raw"))
    rows_.append(_target("1 GiB download", 1.3, ratio(t, "1gib", "down", "oss2-eq"), "oss2"))
    rows_.append(_target("1 GiB download", 1.3, ratio(t, "1gib", "down", "v2-eq"), "oss-v2"))
    rows_.append(_target("1 GiB download", 0.8, raw_ratio("1gib", "down"), "best raw"))
    for d, name in (("up", "upload"), ("down", "download")):
        # Which raw it is matters: one loopback stream is cheaper per byte than N of them.
        for raw, what in (("raw-n", "raw-n (same concurrency)"), ("raw-1", "raw-1 (one stream)")):
            rows_.append(_target(f"1 GiB {name}, detail", 0.8, ratio(t, "1gib", d, raw), what))
    for d, name in (("up", "upload"), ("down", "download")):
        lbl = f"small files {name}"
        row = _target(lbl, 3.0, ratio(t, "small", d, "oss2-loop"), "oss2 loop")
        best, loop = raw_best(t, "small", d), t.get(("small", d, "oss2-loop"))
        if best and loop and loop.ok:
            # What unsigned requests get out of this server: a ceiling for every client.
            row = (*row[:2], f"{row[2]} (raw ceiling {best.mbps / loop.mbps:.2f}x)", row[3])
        rows_.append(row)
        rows_.append(_target(lbl, 2.0, ratio(t, "small", d, "oss2-pool"), "oss2 pool"))
        rows_.append(_target(lbl, 2.0, ratio(t, "small", d, "v2-pool"), "oss-v2 pool"))
    bound = 64 + settings["concurrency"] * settings["part_size"] / 2**20
    rows_ += _stream_targets(t, bound)
    rows_ += _scale_targets(t)
    rows_ += _latency_targets(t, settings)
    ours = [r for r in t.values() if r.ok and r.client.startswith("agentbay-")]
    if ours:
        worst = max(ours, key=lambda r: r.rss_mib)
        verdict = "met" if worst.rss_mib <= bound else "MISSED"
        got = f"{worst.rss_mib:.0f} MiB ({worst.client} {worst.workload} {worst.direction})"
        rows_.append(("peak RSS", f"<= {bound:.0f} MiB", got, verdict))
    else:
        rows_.append(("peak RSS", f"<= {bound:.0f} MiB", "n/a", "not measured"))
    for w, d, c in t:
        if c != "agentbay-sync":
            continue
        r = ratio(t, w, d, c)
        if r is None:
            rows_.append((f"blocking facade {w} {d}", "within 5% of async", "n/a", "not measured"))
        else:
            sync_vs = 1 / r
            verdict = "met" if sync_vs >= 0.95 else "MISSED"
            rows_.append(
                (f"blocking facade {w} {d}", "within 5% of async", f"{sync_vs:.3f}x", verdict)
            )
    peers = {"1gib": ("oss2-eq", "v2-eq"), "small": ("oss2-pool", "v2-pool")}
    peers["mid"] = peers["small"]
    for (w, d, c), ref in t.items():
        if c != REF or not ref.ok or w not in peers:
            continue
        others = [t.get((w, d, p)) for p in peers[w]]
        vals = [o.cpu_per_gb for o in others if o and o.ok]
        if len(vals) < 2:
            rows_.append((f"CPU s/GB {w} {d}", "lower than both peers", "n/a", "not measured"))
            continue
        got = f"{ref.cpu_per_gb:.2f} vs {vals[0]:.2f} / {vals[1]:.2f}"
        verdict = "met" if ref.cpu_per_gb < min(vals) else "MISSED"
        rows_.append((f"CPU s/GB {w} {d}", "lower than both peers", got, verdict))
    out = ["| target | need | measured | verdict |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows_]
    return "\n".join(out)


# issue 13: (direction, client, label, need vs agentbay-async moving the same bytes to/from a file)
STREAM_ROWS = (
    ("up", "agentbay-stream", "stream upload: upload_stream from a pipe", 0.9),
    ("down", "agentbay-stream", "stream download: download_stream into a pipe", 0.8),
    ("down", "agentbay-iter", "stream download: iter_object", 0.8),
)


def _stream_targets(t: dict[tuple[str, str, str], Row], bound: float) -> list[Target]:
    """issue 13's rows: streams against the same file moved by agentbay-async (workload
    `stream`), their peak RSS, and concurrency 1 against raw-1 (workload `1gib-c1`)."""
    out: list[Target] = []
    for d, c, label, need in STREAM_ROWS:
        out.append(_target(label, need, ratio(t, "stream", d, REF, c), "agentbay-async, file"))
        row = t.get(("stream", d, c))
        if row is None or not row.ok:
            out.append((label, f"peak RSS <= {bound:.0f} MiB", "n/a", "not measured"))
        else:
            verdict = "met" if row.rss_mib <= bound else "MISSED"
            out.append((label, f"peak RSS <= {bound:.0f} MiB", f"{row.rss_mib:.0f} MiB", verdict))
    v2 = t.get(("stream", "up", "v2-stream"))
    if v2 is not None and v2.ok:
        got = f"peak RSS {v2.rss_mib:.0f} MiB, {v2.mbps:.0f} MB/s"
        out.append(("stream upload, peer v2-stream", "(for comparison)", got, "-"))
    for d, name in (("up", "upload"), ("down", "download")):
        r = ratio(t, "1gib-c1", d, "raw-1")
        out.append(_target(f"1 GiB {name} at concurrency 1", 0.8, r, "raw-1"))
    return out


# issue 15, workload `scale`: (client, direction, label)
SCALE_ROWS = (
    ("agentbay-async", "up", "directory upload"),
    ("agentbay-async", "down", "directory download"),
    ("agentbay-syncup-noop", "up", "sync_upload, nothing changed"),
    ("agentbay-syncup-1pct", "up", "sync_upload, 1% changed"),
)
NOOP_SYNC_FILES, NOOP_SYNC_SECONDS = 1_000_000, 60.0
SCALE_RSS_MIB = 128  # the issue's bound, whatever the part size


def _scale_targets(t: dict[tuple[str, str, str], Row]) -> list[Target]:
    """issue 15's scale rows (only when `scale` or `scale-ref` ran): peak RSS and files/s
    at the full count against a tenth of it, the no-op sync's time at 1,000,000 files
    (extrapolated when fewer ran), and what the 1% sync rewrote at the server."""
    if not any(w in ("scale", "scale-ref") for w, _, _ in t):
        return []
    out: list[Target] = []
    for c, d, label in SCALE_ROWS:
        row, ref = t.get(("scale", d, c)), t.get(("scale-ref", d, c))
        lbl = f"scale: {label}"
        if row is None or not row.ok:
            out.append((lbl, f"peak RSS <= {SCALE_RSS_MIB} MiB", "n/a", "not measured"))
        else:
            verdict = "met" if row.rss_mib <= SCALE_RSS_MIB else "MISSED"
            got = f"{row.rss_mib:.0f} MiB at {row.files:,} files"
            out.append((lbl, f"peak RSS <= {SCALE_RSS_MIB} MiB", got, verdict))
        need = "files/s >= 0.9x at the reference count"
        if row is None or ref is None or not row.ok or not ref.ok:
            out.append((lbl, need, "n/a", "not measured"))
        else:
            r = row.fps / ref.fps
            got = f"{r:.2f}x ({row.fps:,.0f} at {row.files:,} vs {ref.fps:,.0f} at {ref.files:,})"
            out.append((lbl, need, got, "met" if r >= 0.9 else "MISSED"))
    noop = t.get(("scale", "up", "agentbay-syncup-noop"))
    lbl = f"scale: no-op sync_upload of {NOOP_SYNC_FILES:,} files"
    need = f"< {NOOP_SYNC_SECONDS:g} s"
    if noop is None or not noop.ok:
        out.append((lbl, need, "n/a", "not measured"))
    elif noop.files >= NOOP_SYNC_FILES:
        verdict = "met" if noop.seconds < NOOP_SYNC_SECONDS else "MISSED"
        out.append((lbl, need, f"{noop.seconds:.1f} s", verdict))
    else:
        est = noop.seconds * NOOP_SYNC_FILES / noop.files
        got = f"{noop.seconds:.1f} s at {noop.files:,}; {est:.0f} s extrapolated linearly"
        verdict = "met (extrapolated)" if est < NOOP_SYNC_SECONDS else "MISSED (extrapolated)"
        out.append((lbl, need, got, verdict))
    one = t.get(("scale", "up", "agentbay-syncup-1pct"))
    lbl = "scale: sync_upload, 1% changed"
    need = "sends exactly the 1% (server)"
    if one is None or not one.ok or not one.rewritten:
        out.append((lbl, need, "n/a" if one is None else "FAILED", "not measured"))
    else:
        # A run whose server count differed failed its verification and is not in the row.
        got = f"{'/'.join(f'{n:,}' for n in one.rewritten)} of {one.files:,} rewritten"
        out.append((lbl, need, got, "met"))
    return out


def _latency_targets(t: dict[tuple[str, str, str], Row], settings: dict[str, Any]) -> list[Target]:
    """issue 15's latency rows (only when `latency` ran): files/s against concurrency /
    latency, the peers' pools of the same width, and CPU per file against concurrency 8."""
    if not any(w == "latency" for w, _, _ in t):
        return []
    out: list[Target] = []
    latency = settings.get("latency_ms", 20) / 1000
    for d, name in (("up", "upload"), ("down", "download")):
        lbl = f"latency {name}"
        row, c8 = t.get(("latency", d, REF)), t.get(("latency-c8", d, REF))
        if row is None or not row.ok:
            out.append((lbl, ">= 0.8x concurrency / latency", "n/a", "not measured"))
            continue
        limit = row.concurrency / latency
        r = row.fps / limit
        got = f"{r:.2f}x ({row.fps:,.0f} of {limit:,.0f} files/s)"
        out.append((lbl, ">= 0.8x concurrency / latency", got, "met" if r >= 0.8 else "MISSED"))
        peers = [(p, t.get(("latency", d, p))) for p in ("oss2-pool", "v2-pool")]
        seen = [
            f"{row.fps / p.fps:.2f}x {name_} ({p.fps:,.0f})" for name_, p in peers if p and p.ok
        ]
        if seen:
            out.append((lbl, "(vs peers' pools, same width)", ", ".join(seen), "-"))
        need = "CPU/file <= at concurrency 8"
        if c8 is None or not c8.ok:
            out.append((lbl, need, "n/a", "not measured"))
        else:
            a, b = row.cpu_per_file * 1e6, c8.cpu_per_file * 1e6
            verdict = "met" if a <= b else "MISSED"
            out.append((lbl, need, f"{a:.0f} vs {b:.0f} us ({a / b:.2f}x)", verdict))
    return out


def _issue15_settings(settings: dict[str, Any]) -> str:
    ran = settings.get("workloads", ())
    out = ""
    if "scale" in ran or "scale-ref" in ran:
        n = settings["scale_count"]
        out += f", scale = {n:,} x 1 KiB ({settings['scale_per_dir']:,} a directory)"
        ref = settings.get("scale_ref_count", max(1, n // 10))
        out += f", scale-ref = {ref:,} of them"
    if "latency" in ran or "latency-c8" in ran:
        out += f", latency = {settings['latency_count']:,} x 4 KiB at {settings['latency_ms']} ms"
    return out


def render(
    records: list[dict[str, Any]],
    settings: dict[str, Any],
    machine: dict[str, str],
    command: str,
) -> str:
    table = rows(records)
    kind = "quick" if "--quick" in command else "full"
    faults = ""
    if settings["fail_rate"] or settings["reset_rate"]:
        faults = f", server faults: fail {settings['fail_rate']}, reset {settings['reset_rate']}"
    lines = [
        f"## {machine['date']}: {kind} run, commit {machine['commit']}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine['summary']}",
        f"- Settings: concurrency {settings['concurrency']}, part size"
        f" {_mib(settings['part_size'])}, median of {settings['runs']} run(s); 1gib ="
        f" {_mib(settings['big_size'])}, small = {settings['small_count']} x 4 KiB,"
        f" mid = {settings['mid_count']} x 1 MiB,"
        f" stream = {_mib(settings['stream_size'])}{_issue15_settings(settings)}{faults};"
        f" took {settings['elapsed']:.0f}s;"
        f" load at end {settings.get('load_end', '?')}"
        + (f"; ran at nice {settings['nice']}" if settings.get("nice") else ""),
        "- MB/s = 10^6 bytes/s. Ratio > 1: agentbay-async is faster. RSS: peak over runs of the"
        " client process. CPU: user+sys of the client process during the transfer. Server CPU:"
        " the local server process during the same transfer (same 2 cores).",
        "",
        results_table(table),
        "",
        "Targets (issues 5, 13 and 15), computed from the table above:",
        "",
        targets(table, settings),
        "",
    ]
    failures = [r for r in table.values() if r.failed]
    if failures:
        lines.append("Failures:")
        lines += [
            f"- {r.workload} {r.direction} {r.client}: {r.failed} failed: {'; '.join(r.errors)[:300]}"
            for r in failures
        ]
        lines.append("")
    return "\n".join(lines)
