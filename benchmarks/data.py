"""Benchmark data: random files generated once under `benchmarks/.work/data`, with a manifest.

The manifest records each file's size and CRC-64/XZ so that children can verify downloads
and the harness can verify uploads without re-reading the source.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from agentbay_oss.protocol.crc64 import crc64

CHUNK = 8 * 2**20
PER_DIR = 1000  # files per directory of a nested tree


@dataclass(frozen=True)
class Dataset:
    """A file (`big`) or a directory of files (`files`), as uploaded by every client."""

    name: str  # the workload: "1gib", "small", "mid", "stream", "1gib-c1", "scale", ...
    kind: str  # "big" (one file) or "files" (a directory: flat, or nested for "scale")
    path: Path  # the file, or the directory
    manifest: dict[str, tuple[int, int]]  # relative path ('/'-separated) -> (size, crc64)

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


def file_tree(
    data_dir: Path, label: str, count: int, size: int, *, name: str | None = None
) -> Dataset:
    """A flat directory of `count` files of `size` bytes, reused when already there.
    `name`: the workload using it (default `label`; workloads of the same shape share it)."""
    path = data_dir / f"{label}-{count}x{size}"
    path.mkdir(parents=True, exist_ok=True)
    want = {f"f{i:05d}.bin": size for i in range(count)}
    ds = _load(name or label, "files", path, want)
    if ds is not None:
        return ds
    for stale in path.iterdir():
        stale.unlink()
    manifest = {rel: (size, _write_random(path / rel, size)) for rel in want}
    return _save(Dataset(name or label, "files", path, manifest))


def nested_tree(
    data_dir: Path, name: str, count: int, size: int, per_dir: int = PER_DIR
) -> Dataset:
    """`count` files of `size` bytes, `per_dir` to a directory (`d0000/f000.bin`, ...), as
    real trees of millions of files are laid out (a walker holds one directory's sorted
    entries at a time). Reused when already there. Written directly, without a temp file
    and rename: the manifest, written last, is what marks the tree complete."""
    path = data_dir / f"tree-{count}x{size}"
    want = {_tree_name(i, per_dir): size for i in range(count)}
    ds = _load(name, "files", path, want)
    if ds is not None:
        return ds
    Dataset(name, "files", path, {}).manifest_path.unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    manifest: dict[str, tuple[int, int]] = {}
    for i, rel in enumerate(want):
        if i % per_dir == 0:
            (path / rel).parent.mkdir(parents=True)
        data = os.urandom(size)
        with open(path / rel, "wb", buffering=0) as f:
            f.write(data)
        manifest[rel] = (size, crc64(data))
    return _save(Dataset(name, "files", path, manifest))


def _tree_name(i: int, per_dir: int) -> str:
    digits = len(str(per_dir - 1))
    return f"d{i // per_dir:04d}/f{i % per_dir:0{digits}d}.bin"
