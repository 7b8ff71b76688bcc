"""What every handler works with: the store, the worker pool, the counters, and `reply`.

A handler is `async (Ctx) -> response` and only does its operation: the request is
parsed, authenticated and checked against faults before it runs (`app`), and the
answer is stamped with the common headers after it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from aiohttp import web

from .faults import ServerStats
from .request import Ctx
from .storage import Storage

Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


class Backend:
    __slots__ = ("bucket_regions", "executor", "public_buckets", "region", "stats", "storage")

    def __init__(
        self,
        storage: Storage,
        executor: Executor,
        stats: ServerStats,
        public_buckets: set[str],
        region: str,
    ) -> None:
        self.storage = storage
        self.executor = executor  # bulk data work: hashing, copying, unlinking
        self.stats = stats
        self.public_buckets = public_buckets  # shared with LocalOssServer, which may add to it
        self.region = region
        # Buckets that answer as if they lived in another region (one emulator plays several,
        # so cross-region rules can be tested); every other bucket is in `region`.
        self.bucket_regions: dict[str, str] = {}

    def region_of(self, bucket: str) -> str:
        return self.bucket_regions.get(bucket, self.region)

    def remove_later(self, blobs: list[str]) -> None:
        """Unlink replaced blobs on a worker thread: the answer does not wait for the disk."""
        if blobs:
            asyncio.get_running_loop().run_in_executor(
                self.executor, self.storage.remove_blobs, blobs
            )

    def bucket_acl(self, bucket: str) -> str:
        return "public-read-write" if bucket in self.public_buckets else "private"


def reply(
    status: int = 200, body: bytes | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """An answer with an optional XML body."""
    resp = web.Response(status=status, body=body, headers=headers)
    if body is not None:
        resp.content_type = "application/xml"
    return resp
