"""`--profile DIR`: py-spy on the client child and on the server during the same transfer.

py-spy is not a dependency: the harness runs it with `uv run --with py-spy` style, i.e. it
must be on PATH (`uv run --python python3 --with py-spy python -m benchmarks --profile DIR`).
Each measurement leaves `<name>.client.txt` / `<name>.server.txt` (collapsed stacks) and a
`<name>.top.txt` summary: the functions with the most samples, self and inclusive.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
from pathlib import Path


def py_spy() -> str:
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit(
            "--profile needs py-spy: uv run --python python3 --with py-spy python -m benchmarks ..."
        )
    return exe


# --threads: the loop thread and the to_thread workers apart; --idle: waiting shows too.
_RECORD = ("py-spy", "record", "--format", "raw", "--rate", "200", "--threads", "--idle")


def client_prefix(out: Path) -> list[str]:
    return [*_RECORD, "-o", str(out), "--"]


def start_server_recording(pid: int, out: Path) -> subprocess.Popen[bytes]:
    cmd = [*_RECORD, "--pid", str(pid), "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_recording(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# Leaf frames that mean "waiting": the event loop in select, idle pool workers, locks.
IDLE = (
    "select (selectors.py",
    "poll (selectors.py",
    "_worker (concurrent/futures/thread.py:81)",
    "wait (threading.py",
)


def summarize(path: Path, top: int = 20) -> str:
    """Busy share of each thread, then the busiest frames (self and inclusive, busy samples)."""
    if not path.exists():
        return f"(no profile at {path})\n"
    threads: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    self_n: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    busy_total = 0
    for line in path.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not stack or not n_text.isdigit():
            continue
        n = int(n_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith("thread") else "?"
        threads[thread][0] += n
        if any(i in frames[-1] for i in IDLE):
            continue
        threads[thread][1] += n
        busy_total += n
        self_n[frames[-1]] += n
        for f in set(frames[1:]):
            incl[f] += n
    out = [f"== {path.name}: busy share per thread (samples at 200/s)"]
    for name, (n, busy) in sorted(threads.items(), key=lambda kv: -kv[1][1]):
        out.append(f"    {busy / max(n, 1):6.1%} busy of {n:6d}  {name}")
    out.append("  busiest frames, self (share of all busy samples):")
    out += [f"    {n / max(busy_total, 1):6.1%}  {f}" for f, n in self_n.most_common(top)]
    out.append("  busiest frames, inclusive:")
    out += [f"    {n / max(busy_total, 1):6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out) + "\n"
