"""`agentbay-oss demo`: a round trip of a sample tree through an embedded local OSS server.

Starts `LocalOssServer` on a free loopback port over a temp directory, writes a sample tree
(nested small files, a unicode name, an empty directory, one big file of random bytes),
uploads it with the blocking `session.oss.upload`, downloads it back with
`session.oss.download`, checks that the tree, every byte and every CRC-64 match, prints a
summary table, and removes everything. Exit code 0 only when everything matched.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from agentbay_oss.aio import ProgressHook
from agentbay_oss.models import ProgressEvent, TransferredObject
from agentbay_oss.protocol.crc64 import crc64

MiB = 1024 * 1024
_BLOCK = 8 * MiB
BUCKET = "agentbay-demo"
PREFIX = "sample"


@dataclass
class SampleTree:
    root: Path
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # rel path -> (size, crc64)
    empty_dirs: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.files.values())


def _write(path: Path, size: int) -> int:
    """Write `size` random bytes to `path` (8 MiB blocks of os.urandom); return their CRC-64."""
    path.parent.mkdir(parents=True, exist_ok=True)
    crc = 0
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(_BLOCK, left))
            handle.write(block)
            crc = crc64(block, crc)
            left -= len(block)
    return crc


def make_sample_tree(root: Path, big_mib: int) -> SampleTree:
    """Nested small files of assorted sizes, a unicode name, an empty file and directory, one big file."""
    tree = SampleTree(root)
    sizes = [0, 1, 100, 4096, 65_537, 300_000]
    layout = {
        "README.txt": 1200,
        "docs/guide.md": 5000,
        "docs/images/logo.png": 70_000,
        "docs/images/ünïcödé 文件.txt": 321,
        "data/empty.bin": 0,
        "data/nested/deeper/deepest/leaf.json": 77,
    }
    for i in range(24):
        layout[f"data/batch-{i // 8}/part-{i:03d}.bin"] = sizes[i % len(sizes)] + i
    if big_mib:
        layout["big/random-256MiB.bin" if big_mib == 256 else f"big/random-{big_mib}MiB.bin"] = (
            big_mib * MiB
        )
    for rel, size in layout.items():
        tree.files[rel] = (size, _write(root / rel, size))
    for rel in ("empty-dir", "docs/drafts"):
        (root / rel).mkdir(parents=True)
        tree.empty_dirs.append(rel)
    return tree


def _crc_of_file(path: Path) -> int:
    crc = 0
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            crc = crc64(block, crc)
    return crc


def verify(tree: SampleTree, copy: Path) -> list[str]:
    """Differences between the sample tree and its copy (empty when they match)."""
    problems: list[str] = []
    seen_files: set[str] = set()
    seen_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(copy):
        rel_dir = Path(dirpath).relative_to(copy).as_posix()
        if not dirnames and not filenames and rel_dir != ".":
            seen_dirs.add(rel_dir)
        for name in filenames:
            seen_files.add((Path(dirpath) / name).relative_to(copy).as_posix())
    for rel in sorted(set(tree.files) - seen_files):
        problems.append(f"missing after the round trip: {rel}")
    for rel in sorted(seen_files - set(tree.files)):
        problems.append(f"unexpected file: {rel}")
    for rel in sorted(set(tree.empty_dirs) - seen_dirs):
        problems.append(f"empty directory not restored: {rel}")
    for rel in sorted(set(tree.files) & seen_files):
        size, crc = tree.files[rel]
        got = copy / rel
        if got.stat().st_size != size:
            problems.append(f"{rel}: {got.stat().st_size} bytes, expected {size}")
        elif _crc_of_file(got) != crc:
            problems.append(f"{rel}: CRC-64 differs")
        elif not filecmp.cmp(tree.root / rel, got, shallow=False):
            problems.append(f"{rel}: bytes differ")
    return problems


def _check_reported_crcs(
    tree: SampleTree, objects: list[TransferredObject], what: str
) -> list[str]:
    """The CRC-64 each transferred object carries (checked by the server) must match ours."""
    problems = []
    by_rel = {obj.key.removeprefix(PREFIX + "/"): obj for obj in objects}
    for rel, (_, crc) in tree.files.items():
        obj = by_rel.get(rel)
        if obj is None:
            problems.append(f"{rel}: not among the {what} objects")
        elif obj.crc64 is not None and obj.crc64 != crc:
            problems.append(f"{rel}: reported CRC-64 {obj.crc64} != {crc}")
    return problems


@contextlib.contextmanager
def _bar(console: Console, label: str, enabled: bool) -> Iterator[ProgressHook | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn(f"[bold]{label:9}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[files]}"),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=None, files="")

        def hook(event: ProgressEvent) -> None:
            progress.update(
                task,
                completed=event.bytes_done,
                total=event.bytes_total or None,
                files=f"{event.files_done}/{event.files_total} files",
            )

        yield hook


def _rate(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6 if seconds > 0 else 0.0


def run_demo(
    *, big_mib: int = 256, keep: bool = False, quiet: bool = False, as_json: bool = False
) -> int:
    """Run the demo; returns the process exit code (0 when every byte came back intact)."""
    from agentbay_oss import AgentBay
    from agentbay_oss.server import LocalOssServer

    console = Console(stderr=as_json, quiet=quiet)
    show_bars = not (quiet or as_json) and console.is_terminal
    work = Path(tempfile.mkdtemp(prefix="agentbay-oss-demo-"))
    started = time.perf_counter()
    try:
        console.print(f"[bold]agentbay-oss demo[/] working in {work}")
        t0 = time.perf_counter()
        tree = make_sample_tree(work / "source", big_mib)
        console.print(
            f"sample tree: {len(tree.files)} files, {len(tree.empty_dirs)} empty directories, "
            f"{tree.bytes / MiB:.1f} MiB (written in {time.perf_counter() - t0:.1f} s)"
        )
        access_key_id = "LTAI" + secrets.token_hex(8)
        access_key_secret = secrets.token_urlsafe(24)
        token = secrets.token_urlsafe(32)
        with LocalOssServer(
            root=work / "server",
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            security_token=token,
            buckets=(BUCKET,),
        ) as server:
            console.print(f"local OSS server listening on {server.endpoint}, bucket {BUCKET!r}")
            with AgentBay() as agent_bay:
                session = agent_bay.create().session
                try:
                    init = session.oss.env_init(
                        access_key_id=access_key_id,
                        access_key_secret=access_key_secret,
                        securityToken=token,
                        endpoint=server.endpoint,
                        region="cn-hangzhou",
                    )
                    init.raise_for_error()
                    # Directory results keep counts; each object comes through on_object.
                    sent: list[TransferredObject] = []
                    received: list[TransferredObject] = []
                    with _bar(console, "upload", show_bars) as hook:
                        up = session.oss.upload(
                            BUCKET, PREFIX, str(tree.root), progress=hook, on_object=sent.append
                        )
                    up.raise_for_error()
                    with _bar(console, "download", show_bars) as hook:
                        down = session.oss.download(
                            BUCKET,
                            PREFIX + "/",
                            str(work / "copy"),
                            progress=hook,
                            on_object=received.append,
                        )
                    down.raise_for_error()
                finally:
                    session.delete()
        t0 = time.perf_counter()
        problems = verify(tree, work / "copy")
        problems += _check_reported_crcs(tree, sent, "uploaded")
        problems += _check_reported_crcs(tree, received, "downloaded")
        verify_s = time.perf_counter() - t0
        total_s = time.perf_counter() - started
        summary = {
            "ok": not problems,
            "files": len(tree.files),
            "empty_dirs": len(tree.empty_dirs),
            "bytes": tree.bytes,
            "upload": {
                "files": up.files,
                "bytes": up.bytes,
                "seconds": round(up.elapsed, 3),
                "MB_per_s": round(_rate(up.bytes, up.elapsed), 1),
            },
            "download": {
                "files": down.files,
                "bytes": down.bytes,
                "seconds": round(down.elapsed, 3),
                "MB_per_s": round(_rate(down.bytes, down.elapsed), 1),
            },
            "verify_seconds": round(verify_s, 3),
            "total_seconds": round(total_s, 3),
            "problems": problems,
        }
        table = Table(title="round trip through the local OSS server")
        for column in ("step", "files", "bytes", "seconds", "MB/s"):
            table.add_column(column, justify="left" if column == "step" else "right")
        for step, result in (("upload", up), ("download", down)):
            table.add_row(
                step,
                str(result.files),
                f"{result.bytes:,}",
                f"{result.elapsed:.2f}",
                f"{_rate(result.bytes, result.elapsed):.1f}",
            )
        table.add_row(
            "verify",
            str(len(tree.files)),
            f"{tree.bytes:,}",
            f"{verify_s:.2f}",
            "bytes + CRC-64",
        )
        console.print(table)
        if as_json:
            print(json.dumps(summary, indent=2))
        if problems:
            console.print("[bold red]MISMATCH[/]")
            for problem in problems:
                console.print(f"  {problem}", markup=False)
            return 1
        console.print(
            f"[bold green]OK[/]: every byte and CRC-64 matched, "
            f"{len(tree.empty_dirs)} empty directories restored ({total_s:.1f} s in all)"
        )
        return 0
    finally:
        if keep:
            console.print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
