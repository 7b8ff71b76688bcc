"""What runs on a Dask worker: one engine per worker process, reused across batches.

Task functions are plain blocking functions (Dask runs them in its worker threads); each
hands its coroutine to the process's agentbay-oss event loop (the blocking facade's portal),
where the engines live. Every task is idempotent: re-putting an object or a part, rewriting a
range of a temp file, is safe, so Dask may rerun a batch whose worker was lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..aio import _files
from ..aio._client import HttpCore, ObjectMeta, OssClient
from ..aio._common import Outcome, Pipeline, Progress, run_pool
from ..aio._copy import copy_object
from ..aio._download import _fetch_range_to_fd, download_object
from ..aio._target import ObjectTarget
from ..aio._upload import Multipart, PartDone, send_part, upload_file
from ..errors import OssError, SourceChangedError
from ..models import TransferredObject
from ..sync._portal import portal
from ..sync._portal import run as _run_on_loop
from ._items import CopyItem, DownItem, Report, Span, UpItem
from ._payload import WorkerConfig

T = TypeVar("T")
KEEP = 4  # engines kept per process: the current credentials and a few just replaced
_clients: OrderedDict[str, OssClient] = OrderedDict()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on the process's engine loop. An error leaves the task without its cause chain:
    Dask pickles the chain (aiohttp objects in it may not pickle) and walks it."""
    try:
        return _run_on_loop(coro)
    except OssError as exc:
        raise exc from None


async def client_for(cfg: WorkerConfig) -> OssClient:
    """The process's engine for `cfg` (runs on the portal loop: no lock needed)."""
    client = _clients.get(cfg.token)
    if client is not None:
        _clients.move_to_end(cfg.token)
        return client
    client = OssClient(HttpCore(cfg.config), cfg.creds, cfg.endpoint, cfg.signature_version)
    _clients[cfg.token] = client
    portal().register_closer(client, client.core.close)
    while len(_clients) > KEEP:  # old credentials: a batch on them has long finished
        _, old = _clients.popitem(last=False)
        portal().unregister_closer(old)
        await old.core.close()
    return client


async def _each(
    cfg: WorkerConfig,
    items: Sequence[T],
    handle: Callable[[OssClient, Outcome, T], Awaitable[None]],
    label: Callable[[T], str],
) -> Report:
    """`handle` every item with the engine's concurrency; per-item failures are reported,
    fatal ones (auth, network after retries) fail the task, as they stop a local transfer."""
    client = await client_for(cfg)
    outcome = Outcome(keep=True)

    async def produce() -> AsyncIterator[T]:
        for item in items:
            yield item

    async def one(item: T) -> None:
        await handle(client, outcome, item)

    await Pipeline(client.core.config.concurrency * 2, one, "batch", outcome).run(produce, label)
    return Report(outcome.objects, outcome.failed, outcome.errors)


# ---------------------------------------------------------------------------- uploads


async def _put(client: OssClient, outcome: Outcome, bucket: str, it: UpItem) -> None:
    target = ObjectTarget(client, bucket, it.key)
    if it.marker:
        _, h, _ = await target.simple("PUT", data=b"")
        marker = TransferredObject(key=it.key, size=0, etag=h.get("ETag", ""), crc64=0)
        await outcome.add(marker)
        return
    info = _files.SourceInfo(it.size, it.mtime_ns)
    await outcome.add(await upload_file(target, it.path, info, Progress(None), None, it.headers))


def upload_files(cfg: WorkerConfig, bucket: str, items: list[UpItem]) -> Report:
    """PUT each file (all below multipart_threshold: no multipart upload is started here)."""
    return run(_each(cfg, items, lambda c, o, it: _put(c, o, bucket, it), lambda it: it.path))


def upload_parts(
    cfg: WorkerConfig,
    bucket: str,
    key: str,
    upload_id: str,
    path: str,
    info: tuple[int, int],
    spans: list[Span],
) -> list[PartDone]:
    """UploadPart of some parts of a multipart upload the coordinator initiated; `info`: the
    file's (size, mtime_ns) when it was split (a changed file fails the task)."""

    async def go() -> list[PartDone]:
        client = await client_for(cfg)
        target = ObjectTarget(client, bucket, key)
        mp = Multipart(target, upload_id, 0)
        fd, now = await asyncio.to_thread(_files.open_source, path)
        try:
            if (now.size, now.mtime_ns) != info:
                raise SourceChangedError(f"{path} changed while it was being uploaded")

            async def one(span: Span) -> PartDone:
                async def op() -> PartDone:
                    buf = bytearray(span.size)
                    crc = await asyncio.to_thread(
                        _files.read_part_into, fd, buf, span.offset, span.size, path
                    )
                    async with target.lease() as lease:
                        return await send_part(lease, mp, span.number, memoryview(buf), crc)

                return await target.retry(op, f"PUT part {span.number} of {target.where}")

            return await run_pool(spans, client.core.config.concurrency, one)
        finally:
            os.close(fd)

    return run(go())


# ---------------------------------------------------------------------------- downloads


async def _get(client: OssClient, outcome: Outcome, bucket: str, it: DownItem) -> None:
    dest = Path(it.dest)
    if it.marker:
        await asyncio.to_thread(_files.make_dirs, dest)
        await outcome.add(TransferredObject(key=it.key, size=0, local_path=it.dest))
        return
    target = ObjectTarget(client, bucket, it.key)
    obj = await download_object(target, dest, Progress(None), size_hint=it.size, etag_hint=it.etag)
    await outcome.add(obj)


def download_files(cfg: WorkerConfig, bucket: str, items: list[DownItem]) -> Report:
    """GET each object to its temp file, renamed when whole (objects below the threshold)."""
    return run(
        _each(
            cfg,
            items,
            lambda c, o, it: _get(c, o, bucket, it),
            lambda it: f"oss://{bucket}/{it.key}",
        )
    )


def download_ranges(
    cfg: WorkerConfig, bucket: str, key: str, temp: str, meta: ObjectMeta, spans: list[Span]
) -> list[tuple[int, int, int]]:
    """Ranges of one object written at their offsets into the temp file the coordinator
    preallocated; returns (offset, length, CRC-64) of each."""

    async def go() -> list[tuple[int, int, int]]:
        client = await client_for(cfg)
        target = ObjectTarget(client, bucket, key)
        # No O_CREAT: a temp file that is gone means the coordinator gave up on it.
        fd = await asyncio.to_thread(os.open, temp, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:

            async def one(span: Span) -> tuple[int, int, int]:
                crc = await _fetch_range_to_fd(target, fd, span.offset, span.size, meta)
                return span.offset, span.size, crc

            return await run_pool(spans, client.core.config.concurrency, one)
        finally:
            os.close(fd)

    return run(go())


# ---------------------------------------------------------------------------- copies


async def _copy(
    client: OssClient, outcome: Outcome, src_bucket: str, dst_bucket: str, it: CopyItem
) -> None:
    src = ObjectTarget(client, src_bucket, it.src_key)
    dst = ObjectTarget(client, dst_bucket, it.dst_key)
    await outcome.add(await copy_object(src, dst, Progress(None)))


def copy_objects(
    cfg: WorkerConfig, src_bucket: str, dst_bucket: str, items: list[CopyItem]
) -> Report:
    """CopyObject of each (objects below the threshold: one request each, no multipart)."""
    return run(
        _each(
            cfg,
            items,
            lambda c, o, it: _copy(c, o, src_bucket, dst_bucket, it),
            lambda it: f"oss://{src_bucket}/{it.src_key}",
        )
    )


# ---------------------------------------------------------------------------- the probe


def fingerprint(path: str) -> str:
    """What a read-only directory looks like: a digest of its first entries' names."""
    names = sorted(os.listdir(path))[:256]
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def probe_path(path: str, name: str, expected: str) -> str:
    """ "" if this worker sees the coordinator's `path` (the token file `name` holds
    `expected`; no name: the directory's fingerprint is `expected`), else why not."""
    try:
        if not name:
            got = fingerprint(path)
        else:
            with open(os.path.join(path, name), encoding="ascii") as f:
                got = f.read()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    if got != expected:
        return "it holds another directory there (the probe's token differs)"
    return ""
