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
    head = f"{r['workload']:>5} {r['direction']:>4} {r['client']:<15} run {r['run']}"
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
        if ok:
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
    """issue 5's and issue 13's target rows, computed from the numbers (never asserted)."""
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
        f" stream = {_mib(settings['stream_size'])}{faults}; took {settings['elapsed']:.0f}s;"
        f" load at end {settings.get('load_end', '?')}"
        + (f"; ran at nice {settings['nice']}" if settings.get("nice") else ""),
        "- MB/s = 10^6 bytes/s. Ratio > 1: agentbay-async is faster. RSS: peak over runs of the"
        " client process. CPU: user+sys of the client process during the transfer. Server CPU:"
        " the local server process during the same transfer (same 2 cores).",
        "",
        results_table(table),
        "",
        "Targets (issues 5 and 13), computed from the table above:",
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
