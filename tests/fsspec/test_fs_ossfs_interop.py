"""Interop with ossfs (PyPI), the other fsspec filesystem for OSS, on the same local server:
what ossfs writes we read byte-exact, what we write ossfs reads. ossfs runs in a venv of its
own (its pins clash with ours, see benchmarks/ossfs_venv.py), made once per machine, driven
in a child process by benchmarks/ossfs_driver.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentbay_oss.fsspec import OssFileSystem
from agentbay_oss.server import LocalOssServer
from benchmarks.ossfs_venv import DRIVER, ossfs_python

KiB = 1024


@pytest.fixture(scope="session")
def ossfs_venv_python() -> Path:
    """Made on first use (a fresh machine needs PyPI once; later runs take no time)."""
    return ossfs_python()


def ossfs_run(python: Path, options: dict[str, Any], *ops: list[Any], aio: bool = False) -> Any:
    request = json.dumps({"options": options, "async": aio, "ops": [list(op) for op in ops]})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "VIRTUAL_ENV"))}
    run = subprocess.run(
        [str(python), str(DRIVER)], input=request, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)["results"]


@pytest.mark.parametrize("aio", [False, True], ids=["OSSFileSystem", "AioOSSFileSystem"])
def test_what_ossfs_writes_we_read(
    ossfs_venv_python: Path,
    storage_options: dict[str, Any],
    ossfs: OssFileSystem,
    oss_server: LocalOssServer,
    bucket: str,
    tmp_path: Path,
    aio: bool,
) -> None:
    piped, written = os.urandom(3 * KiB), os.urandom(200 * KiB + 17)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    files = {"a.bin": os.urandom(KiB), "sub/b.bin": os.urandom(70 * KiB), "sub/empty": b""}
    for rel, data in files.items():
        (tree / rel).write_bytes(data)
    appends = oss_server.stats.requests["AppendObject"]
    ossfs_run(
        ossfs_venv_python,
        storage_options,
        ["pipe", f"{bucket}/piped", piped.hex()],
        ["write", f"{bucket}/dir/written", written.hex(), 64 * KiB],
        ["put", str(tree), f"{bucket}/tree"],
        aio=aio,
    )
    # ossfs's open("wb") appends what it flushes: the 200 KiB at once, then nothing at close
    # (one write() call: see the driver for the ossfs bug that a second one runs into).
    assert oss_server.stats.requests["AppendObject"] - appends == 2
    assert ossfs.cat(f"{bucket}/piped") == piped
    assert ossfs.cat(f"{bucket}/dir/written") == written
    assert ossfs.info(f"{bucket}/dir/written")["size"] == len(written)
    assert (
        ossfs.cat(f"{bucket}/dir/written", start=100 * KiB, end=100 * KiB + 5)
        == (written[100 * KiB : 100 * KiB + 5])
    )
    assert ossfs.find(f"{bucket}/tree") == sorted(f"{bucket}/tree/{rel}" for rel in files)
    for rel, data in files.items():
        assert ossfs.cat(f"{bucket}/tree/{rel}") == data


@pytest.mark.parametrize("aio", [False, True], ids=["OSSFileSystem", "AioOSSFileSystem"])
def test_what_we_write_ossfs_reads(
    ossfs_venv_python: Path,
    storage_options: dict[str, Any],
    storage_options_small_parts: dict[str, Any],
    bucket: str,
    aio: bool,
) -> None:
    ours = OssFileSystem(**storage_options_small_parts, skip_instance_cache=True)
    small, big = os.urandom(5 * KiB), os.urandom(350 * KiB + 3)  # big: multipart, 4 parts
    ours.pipe({f"{bucket}/d/small": small, f"{bucket}/d/e/big": big})
    with ours.open(f"{bucket}/d/streamed", "wb", block_size=100 * KiB) as f:
        f.write(big[::-1])
    ours.mkdir(f"{bucket}/d/empty")  # a `dir/` marker object
    cat, ls, info, find, info_dir, streamed = ossfs_run(
        ossfs_venv_python,
        storage_options,
        ["cat", f"{bucket}/d/e/big"],
        ["ls", f"{bucket}/d"],
        ["info", f"{bucket}/d/small"],
        ["find", f"{bucket}/d"],
        ["info", f"{bucket}/d/e"],
        ["cat", f"{bucket}/d/streamed"],
        aio=aio,
    )
    assert bytes.fromhex(cat) == big
    # ossfs names directories with a trailing slash in ls; files as we do.
    assert [name.rstrip("/") for name in ls] == [
        f"{bucket}/d/{n}" for n in ("e", "empty", "small", "streamed")
    ]
    assert info == {"name": f"{bucket}/d/small", "size": len(small), "type": "file"}
    assert [name for name in find if not name.endswith("/")] == [
        f"{bucket}/d/e/big", f"{bucket}/d/small", f"{bucket}/d/streamed",
    ]  # fmt: skip
    assert info_dir["type"] == "directory"
    assert bytes.fromhex(streamed) == big[::-1]


@pytest.fixture
def storage_options_small_parts(storage_options: dict[str, Any]) -> dict[str, Any]:
    """Multipart from 100 KiB on: ossfs must read what our multipart uploads stored."""
    return {**storage_options, "part_size": 100 * KiB, "multipart_threshold": 100 * KiB}
