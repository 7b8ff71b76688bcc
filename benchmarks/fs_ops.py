"""One fsspec operation, timed, in a process of its own: `python fs_ops.py CLIENT OP`, the
request (options with the credentials, paths) as JSON on stdin, `RESULT {json}` on stdout.

Runs under this project's environment (CLIENT `agentbay`: `OssFileSystem`) and under the
ossfs venv (CLIENT `ossfs`: ossfs's async filesystem, `AioOSSFileSystem`), so it imports
nothing of this project at module level and keeps to Python 3.9 syntax. The same calls go to
both filesystems; only what the timer brackets is measured (imports and setup are not).

OPs: `put` / `get` (one file), `cat` (one call with a list of paths), `find` (a prefix, peak
RSS reported), `parquet` (pyarrow reads some columns of one file through the filesystem).
Every op reports the HTTP bytes received, counted in aiohttp's client protocol.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any


def _filesystem(client: str, options: dict[str, Any]) -> Any:
    if client == "agentbay":
        from agentbay_oss.fsspec import OssFileSystem

        return OssFileSystem(**options, skip_instance_cache=True)
    import ossfs  # type: ignore[import-not-found]

    options = {k: v for k, v in options.items() if k != "region"}  # ossfs has no such option
    return ossfs.AioOSSFileSystem(**options, skip_instance_cache=True)


def _peak_rss_kib() -> int:
    for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _count_http_bytes() -> list[int]:
    """A counter of the bytes aiohttp's client connections receive (both filesystems run on
    aiohttp): responses as they come off the socket, headers included."""
    from aiohttp.client_proto import ResponseHandler

    box = [0]
    received = ResponseHandler.data_received

    def counted(self: Any, data: bytes) -> None:
        box[0] += len(data)
        received(self, data)

    ResponseHandler.data_received = counted  # type: ignore[method-assign]
    return box


def _parquet(fs: Any, path: str, columns: list[str]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=columns, filesystem=fs)
    return {"rows": table.num_rows, "columns": table.num_columns}


def run(client: str, op: str, request: dict[str, Any]) -> dict[str, Any]:
    fs = _filesystem(client, request["options"])
    if op == "parquet":
        # Imported before the timer starts: read_table imports pyarrow.dataset (and with it
        # pandas where installed, seconds without cached bytecode), which only our
        # environment has; the timer is for the reads.
        import pyarrow.dataset
        import pyarrow.fs
        import pyarrow.parquet  # noqa: F401
    out: dict[str, Any] = {}
    fetched = _count_http_bytes()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if op == "put":
        fs.put_file(request["local"], request["remote"])
    elif op == "get":
        fs.get_file(request["remote"], request["local"])
    elif op == "cat":
        got = fs.cat(request["paths"])
        out["items"] = len(got)
        out["bytes"] = sum(len(v) for v in got.values())
    elif op == "find":
        out["items"] = len(fs.find(request["remote"]))
    elif op == "parquet":
        out.update(_parquet(fs, request["remote"], request["columns"]))
    else:
        raise ValueError(f"unknown operation {op!r}")
    out["seconds"] = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu"] = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    out["fetched"] = fetched[0]
    out["maxrss_kib"] = _peak_rss_kib()
    return out


def main() -> None:
    client, op = sys.argv[1], sys.argv[2]
    request = json.load(sys.stdin)
    print("RESULT " + json.dumps(run(client, op, request)), flush=True)
    os._exit(0)  # not the filesystems' teardown at exit: it is not what is measured


if __name__ == "__main__":
    main()
