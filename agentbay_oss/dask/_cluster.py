"""The caller's side of the cluster: connecting, the path probe, submitting one task.

distributed is imported here only, and this module only when `cluster=` is given. The
caller's event loop drives an asynchronous Client: a scheduler address opens one; a Client
of another loop (a blocking `distributed.Client`) lends its scheduler address, so its loop is
never blocked on and ours never waits on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import distributed

from ..aio._client import OssClient
from ..errors import (
    InvalidInputError,
    LocalFileError,
    OssError,
    TokenExpiredError,
    TransportError,
)
from ._payload import WorkerConfig, payload_of
from ._worker import fingerprint, probe_path

T = TypeVar("T")
MiB = 1 << 20


@dataclass(frozen=True)
class Cluster:
    """A Dask cluster (a `distributed.Client` or a scheduler address) and how work is cut
    for it: batches of at most `batch_files` files / `batch_bytes` bytes (each runs for
    seconds), at most `in_flight` batches out at once (default: twice the workers' threads),
    and split files cut into pieces of `batch_bytes`."""

    target: Any
    batch_files: int = 256
    batch_bytes: int = 256 * MiB
    in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.batch_files < 1 or self.batch_bytes < 1:
            raise InvalidInputError("batch_files and batch_bytes must be >= 1")
        if self.in_flight is not None and self.in_flight < 1:
            raise InvalidInputError("in_flight must be >= 1")


class Connected:
    """One transfer's link to the cluster: the client, the bounds, the session's engine."""

    def __init__(self, client: Any, opts: Cluster, oss: OssClient, in_flight: int) -> None:
        self.client = client
        self.opts = opts
        self.oss = oss
        self.in_flight = in_flight

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(payload, *args)` on some worker. A lost worker's task is rerun by Dask;
        an `OssError` raised there comes back as itself; anything else (a task killed too
        often, a worker-side crash) ends the transfer as a transport failure. A task refused
        for an expired STS token is sent once more with the provider's new credentials."""
        used = self.oss._generation
        try:
            return await self._call_once(fn, *args)
        except TokenExpiredError:
            if not await self.oss.refresh_credentials(used):
                raise
        return await self._call_once(fn, *args)

    async def _call_once(self, fn: Callable[..., T], *args: Any) -> T:
        cfg: WorkerConfig = await payload_of(self.oss)  # fresh STS credentials reach workers
        fut = self.client.submit(fn, cfg, *args, pure=False)
        try:
            result: T = await fut
            return result
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.client.cancel([fut]))
            raise
        except OssError:
            raise
        except Exception as exc:
            raise TransportError(
                f"a batch failed on the Dask cluster: {type(exc).__name__}: {exc}",
                hint="see the workers' logs; rerun the transfer (a sync sends only what is left)",
            ) from exc


@contextlib.asynccontextmanager
async def connect(cluster: Any, oss: OssClient) -> AsyncIterator[Connected]:
    opts = cluster if isinstance(cluster, Cluster) else Cluster(cluster)
    target: Any = opts.target  # distributed's annotations are partial
    own: Any = None
    if isinstance(target, str):
        address = target
    elif isinstance(target, distributed.Client):
        loop = getattr(target.loop, "asyncio_loop", None)
        mine = target.asynchronous and loop is asyncio.get_running_loop()
        scheduler: Any = target.scheduler
        address = "" if mine else str(scheduler.address)
    else:
        raise InvalidInputError(
            f"cluster= takes a distributed.Client or a scheduler address, not "
            f"{type(target).__name__}"
        )
    try:
        if address:
            make: Any = distributed.Client
            own = await make(address, asynchronous=True, set_as_default=False)
        client = own or target
        threads = sum((await client.nthreads()).values())
        if threads < 1:
            raise InvalidInputError(
                "the Dask cluster has no workers", hint="start workers, then run it again"
            )
        yield Connected(client, opts, oss, opts.in_flight or 2 * threads)
    finally:
        if own is not None:
            await own.close()


async def probe(conn: Connected, path: str, writable: bool) -> None:
    """Before any byte moves: every worker must see the coordinator's `path` (the same shared
    directory). A token file is written there (or, into a directory we may not write, its
    listing's fingerprint is compared), and each worker reads it."""
    name, expected = "", ""
    token_file = ""
    if writable:
        name = f".agentbay-dask-probe-{uuid.uuid4().hex}"
        expected = uuid.uuid4().hex
        token_file = os.path.join(path, name)
        try:
            await asyncio.to_thread(_write_token, token_file, expected)
        except OSError:
            name, token_file = "", ""
    if not name:
        expected = await asyncio.to_thread(fingerprint, path)
    try:
        seen: dict[str, str] = await conn.client.run(probe_path, path, name, expected)
    finally:
        if token_file:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.unlink, token_file)
    bad = sorted((w, why) for w, why in seen.items() if why)
    if bad:
        worker, why = bad[0]
        more = f" (and {len(bad) - 1} other worker(s))" if len(bad) > 1 else ""
        raise LocalFileError(
            f"Dask worker {worker}{more} cannot see {path} as this machine does: {why}",
            hint="with cluster=, the local path must be the same shared directory (NFS, CPFS, "
            "Lustre) on every worker; nothing was transferred",
        )


def _write_token(path: str, token: str) -> None:
    with open(path, "x", encoding="ascii") as f:
        f.write(token)
