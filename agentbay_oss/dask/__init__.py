"""Directory transfers and sync sharded over a Dask cluster (`pip install agentbay-oss[dask]`).

    r = await oss.upload("b", "data", "/shared/data", cluster="tcp://scheduler:8786")
    r = await oss.sync_download("b", "data/", "/shared/out", cluster=client)  # a distributed.Client
    r = await oss.download("b", "data/", "/shared/out",
                           cluster=Cluster(client, batch_files=512, batch_bytes=1 << 30))

The caller walks and lists, cuts the work into batches and merges the workers' reports into
the usual result; workers run one engine per process with the session's credentials carried
in each task. The local path must be the same shared directory on every worker: a probe
checks that before any byte moves. Only imported when `cluster=` is given: the core never
imports dask or distributed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..aio._client import OssClient
from ..aio._common import Outcome, Progress
from ._cluster import Cluster, connect, probe
from ._transfers import Job, copy_prefix, download_prefix, sync_download, sync_upload, upload_dir


async def on_cluster(
    cluster: Any,
    client: OssClient,
    path: str | None,
    progress: Progress,
    outcome: Outcome,
    work: Callable[[Job], Awaitable[None]],
) -> None:
    """Connect, probe `path` on every worker (None: no local side), run `work`."""
    async with connect(cluster, client) as conn:
        if path is not None:
            await probe(conn, path, writable=True)
        await work(Job(conn, client, progress, outcome))


__all__ = [
    "Cluster",
    "Job",
    "copy_prefix",
    "download_prefix",
    "on_cluster",
    "sync_download",
    "sync_upload",
    "upload_dir",
]
