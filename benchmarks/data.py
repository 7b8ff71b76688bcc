"""Benchmark data: random files generated once under `benchmarks/.work/data`, with a manifest.

The manifest records each file's size and CRC-64/XZ so that children can verify downloads
and the harness can verify uploads without re-reading the source.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from agentbay_oss.protocol.crc64 import crc64

CHUNK = 8 * 2**20


@dataclass(frozen=True)
class Dataset:
    """A file (`big`) or a flat directory of files (`files`), as uploaded by every client."""

    name: str  # the workload: "1gib", "small", "mid", "stream", "1gib-c1"
    kind: str  # "big" (one file) or "files" (a directory)
    path: Path  # the file, or the directory
    manifest: dict[str, tuple[int, int]]  # relative name -> (size, crc64)

    @property
    def total_bytes(self) -> int:
        return sum(size for size, _ in self.manifest.values())

    @property
    def files(self) -> int:
        return len(self.manifest)

    @property
    def manifest_path(self) -> Path:
        return self.path.parent / f"{self.path.name}.manifest.json"


def _write_random(path: Path, size: int) -> int:
    """Write `size` random bytes; return their CRC. urandom is fast enough (~1 GB/s here)."""
    crc = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            crc = crc64(chunk, crc)
            f.write(chunk)
            left -= len(chunk)
    os.replace(tmp, path)
    return crc


def _load(name: str, kind: str, path: Path, want: dict[str, int]) -> Dataset | None:
    ds = Dataset(name, kind, path, {})
    try:
        raw = json.loads(ds.manifest_path.read_text())
    except (OSError, ValueError):
        return None
    manifest = {k: (int(v[0]), int(v[1])) for k, v in raw.items()}
    if {k: v[0] for k, v in manifest.items()} != want:
        return None
    base = path.parent if kind == "big" else path
    for rel, (size, _) in manifest.items():
        try:
            if (base / rel).stat().st_size != size:
                return None
        except OSError:
            return None
    return Dataset(name, kind, path, manifest)


def _save(ds: Dataset) -> Dataset:
    ds.manifest_path.write_text(json.dumps({k: list(v) for k, v in ds.manifest.items()}))
    return ds


def big_file(data_dir: Path, size: int, label: str = "1gib") -> Dataset:
    """One file of `size` bytes (1 GiB in a full run), reused when already there (workloads
    of the same size share it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    name = f"big-{size}.bin"
    path = data_dir / name
    ds = _load(label, "big", path, {name: size})
    if ds is not None:
        return ds
    return _save(Dataset(label, "big", path, {name: (size, _write_random(path, size))}))


def file_tree(data_dir: Path, label: str, count: int, size: int) -> Dataset:
    """A flat directory of `count` files of `size` bytes, reused when already there."""
    path = data_dir / f"{label}-{count}x{size}"
    path.mkdir(parents=True, exist_ok=True)
    want = {f"f{i:05d}.bin": size for i in range(count)}
    ds = _load(label, "files", path, want)
    if ds is not None:
        return ds
    for stale in path.iterdir():
        stale.unlink()
    manifest = {rel: (size, _write_random(path / rel, size)) for rel in want}
    return _save(Dataset(label, "files", path, manifest))
