"""A virtual environment of its own for ossfs, the peer `OssFileSystem` is compared with.

ossfs as released needs aiohttp < 3.10 (aiooss2 breaks on newer) and fsspec 2025.5, which this
project's environment cannot hold, so it lives in a venv made once under the user's cache dir
(`$AGENTBAY_OSSFS_VENV` to choose another place) with uv, from PyPI, on an interpreter older
than 3.13 (aiohttp 3.9 has no wheels for 3.13). Made under a file lock, marked ready only once
the install succeeded: the next call returns at once. The tests and the benchmarks drive it in
a child process (`ossfs_driver.py` beside this file).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

PINS = ("ossfs==2025.5.0", "aiohttp<3.10", "fsspec==2025.5.*")
PYTHON = ">=3.9,<3.13"
DRIVER = Path(__file__).with_name("ossfs_driver.py")
READY = ".agentbay-ready"


def venv_dir(extras: tuple[str, ...] = ()) -> Path:
    """Where the venv of PINS plus `extras` lives (one venv per set: the tests need none,
    the benchmarks pyarrow)."""
    chosen = os.environ.get("AGENTBAY_OSSFS_VENV")
    if chosen:
        return Path(chosen + ("-" + "-".join(extras) if extras else ""))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(" ".join((*PINS, *extras, PYTHON)).encode()).hexdigest()[:10]
    return cache / "agentbay-oss" / f"ossfs-{tag}"


def _uv() -> list[str]:
    """uv as `uv run` named it, else on PATH, else the module of this interpreter."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def ossfs_python(extras: tuple[str, ...] = (), timeout: float = 600.0) -> Path:
    """The interpreter of the ossfs venv (with `extras` installed too), made first if needed
    (CalledProcessError if uv cannot make it, e.g. no interpreter in range or no PyPI)."""
    where = venv_dir(extras)
    python = where / "bin" / "python"
    marker = where / READY
    if marker.is_file() and python.exists():
        return python
    where.parent.mkdir(parents=True, exist_ok=True)
    with open(where.parent / f"{where.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making it right now
        if marker.is_file() and python.exists():
            return python
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        env.pop("VIRTUAL_ENV", None)  # never the caller's environment
        uv = _uv()
        for args in (
            ["venv", "-q", "--clear", "--python", PYTHON, str(where)],
            ["pip", "install", "-q", "--python", str(python), *PINS, *extras],
        ):
            subprocess.run([*uv, *args], check=True, env=env, timeout=timeout, capture_output=True)
        marker.write_text(" ".join((*PINS, *extras)) + "\n")
    return python


__all__ = ["DRIVER", "PINS", "ossfs_python", "venv_dir"]
