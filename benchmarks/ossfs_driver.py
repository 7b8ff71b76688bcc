"""Drives ossfs in its own venv (`ossfs_venv.py`), for the interop tests and the benchmarks:
reads one JSON request on stdin (credentials travel there, never on the command line),
runs its operations in order, writes one JSON reply on stdout. Runs on Python >= 3.9 with
ossfs's pins and nothing of this project.

    {"options": {"endpoint": ..., "key": ..., "secret": ..., "token": ...},
     "async": false, "ops": [["pipe", "bucket/k", "<hex>"], ["cat", "bucket/k"], ...]}
    -> {"results": [null, "<hex>", ...]}
"""

from __future__ import annotations

import json
import sys
from typing import Any

import ossfs  # type: ignore[import-not-found]


def _info(info: dict[str, Any]) -> dict[str, Any]:
    return {"name": info["name"], "size": info["size"], "type": info["type"]}


def run(fs: Any, op: str, args: list[Any]) -> Any:
    """One operation; bytes go as hex both ways."""
    if op == "pipe":
        fs.pipe(args[0], bytes.fromhex(args[1]))
        return None
    if op == "write":  # open("wb"): ossfs appends (AppendObject) each flushed buffer
        # In one write() call: ossfs 2025.5 keeps its append position in `loc`, which fsspec's
        # AbstractBufferedFile also advances on every write(), so a second write() makes the
        # next append name a position past the object's end (409 PositionNotEqualToLength,
        # on OSS as here).
        with fs.open(args[0], "wb", block_size=args[2]) as f:
            f.write(bytes.fromhex(args[1]))
        return None
    if op == "put":
        fs.put(args[0], args[1], recursive=True)
        return None
    if op == "cat":
        return fs.cat_file(args[0]).hex()
    if op == "ls":
        return sorted(fs.ls(args[0], detail=False))
    if op == "info":
        return _info(fs.info(args[0]))
    if op == "find":
        return fs.find(args[0])
    raise ValueError(f"unknown operation {op!r}")


def main() -> None:
    request = json.load(sys.stdin)
    cls = ossfs.AioOSSFileSystem if request.get("async") else ossfs.OSSFileSystem
    fs = cls(**request["options"], skip_instance_cache=True)
    results = [run(fs, op, list(args)) for op, *args in request["ops"]]
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
