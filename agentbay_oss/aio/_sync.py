"""sync_upload / sync_download: the local walk and the OSS listing merged as two streams.

Both come sorted by relative key (UTF-8 bytes), so one pass pairs them up and neither side is
held in memory: what a sync keeps is counts. The decisions are `protocol.syncplan`'s; here
they are carried out by the session's worker pool (sends) and in batches (deletes).
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocalFileError, NotFoundError
from ..models import SyncAction, TransferredObject
from ..protocol.crc64 import crc64
from ..protocol.keys import local_path_for, validate_key
from ..protocol.syncplan import NS, Action, PathFilter, decide, object_is_current
from . import _files
from ._client import OssClient
from ._common import Outcome, Pipeline, Progress
from ._download import download_object
from ._syncstreams import (
    Local,
    Pair,
    Remote,
    local_batches,
    merge,
    nothing,
    refuse_empty,
    remote_batches,
)
from ._target import ObjectTarget
from ._upload import upload_file

ActionHook = Callable[[SyncAction], "Awaitable[None] | None"]
DELETE_BATCH = 1000
READ_AHEAD_BATCH = 256  # files decided for sending, read (the small ones) in one thread hop


@dataclass
class SyncCounts:
    skipped: int = 0
    deleted: int = 0
    source: int = 0  # files of the source side the patterns took


Job = tuple[Pair[Local, Remote], Action]  # an upload decided SEND, or CHECK (checksum)
# How a decided transfer is carried out: by default here and now; the Dask layer hands it to
# a batch instead (agentbay_oss/dask).
SendUpload = Callable[[str, Local], Awaitable[None]]
SendDownload = Callable[[Remote, Path], Awaitable[None]]


async def _call(hook: ActionHook | None, action: SyncAction) -> None:
    if hook is not None:
        got = hook(action)
        if inspect.isawaitable(got):
            await got


# ---------------------------------------------------------------------------- upload


@dataclass(frozen=True)
class SyncOptions:
    delete: bool
    compare: str
    dry_run: bool
    chosen: PathFilter
    on_action: ActionHook | None
    force: bool = False  # delete=True even when the source is empty


async def sync_upload(
    client: OssClient,
    bucket: str,
    prefix: str,
    root: str,
    opts: SyncOptions,
    progress: Progress,
    outcome: Outcome,
    counts: SyncCounts,
    send: SendUpload | None = None,
) -> None:
    """Skips are settled as the streams are merged (nothing queued, nothing read); only the
    files to send, or to checksum, go to the workers. The walker reads nothing ahead: the
    files to send are read here in batches, one worker-thread hop per batch (not when `send`
    carries them elsewhere: whoever sends them reads them)."""
    progress.totals_final = False  # (its totals count the files to send, as they are found)
    source = local_batches(root, opts.chosen, outcome)
    if opts.delete and not opts.force:
        source = refuse_empty(source, opts.chosen.active)
    doomed: list[str] = []
    ready: list[Job] = []

    async def flush() -> None:
        if doomed and not opts.dry_run:
            await client.delete_batch(bucket, doomed)
        counts.deleted += len(doomed)
        doomed.clear()

    async def release() -> list[Job]:
        """The decided jobs, the small files to send among them read in one hop."""
        jobs = ready.copy()
        ready.clear()
        sends = [p.source.item for p, a in jobs if a is Action.SEND and p.source is not None]
        if sends and not opts.dry_run and send is None:
            await asyncio.to_thread(_files.read_ahead, sends)
        return jobs

    async def jobs() -> AsyncIterator[Job]:
        listing = remote_batches(client, bucket, prefix, opts.chosen)
        async for pairs in merge(source, listing):
            for pair in pairs:
                local, remote = pair.source, pair.dest
                if local is None:  # only in the bucket
                    assert remote is not None
                    if opts.delete:
                        doomed.append(remote.key)
                        gone = SyncAction("delete", remote.key, "", remote.entry.size)
                        await _call(opts.on_action, gone)
                        if len(doomed) >= DELETE_BATCH:
                            await flush()
                    continue
                counts.source += 1
                action = decide(local.entry, remote.entry if remote else None, opts.compare)
                if action is Action.CHECK and opts.compare != "checksum":
                    assert remote is not None  # size_mtime: the listing tells enough
                    current = object_is_current(local.entry, remote.entry)
                    action = Action.SKIP if current else Action.SEND
                if action is Action.SKIP:
                    counts.skipped += 1
                    if opts.on_action is not None:
                        key, item = prefix + pair.rel, local.item
                        await _call(opts.on_action, SyncAction("skip", key, item.path, item.size))
                    continue
                ready.append((pair, action))
                if len(ready) >= READ_AHEAD_BATCH:
                    for job in await release():
                        yield job
        for job in await release():
            yield job
        await flush()
        progress.totals_final = True

    async def handle(job: Job) -> None:
        pair, action = job
        local, remote = pair.source, pair.dest
        assert local is not None
        key = prefix + pair.rel
        item = local.item
        if action is Action.CHECK:  # checksum: one HEAD and the file's CRC-64
            assert remote is not None
            if await _same_checksum(client, bucket, key, item.path):
                counts.skipped += 1
                await _call(opts.on_action, SyncAction("skip", key, item.path, item.size))
                return
        validate_key(key)
        await _call(opts.on_action, SyncAction("send", key, item.path, item.size))
        progress.files_total += 1
        progress.bytes_total += item.size
        if opts.dry_run:  # counted as it would be sent
            await outcome.add(TransferredObject(key=key, size=item.size, local_path=item.path))
            return
        if send is not None:
            await send(key, local)
            return
        info = _files.SourceInfo(item.size, item.mtime_ns)
        target = ObjectTarget(client, bucket, key)
        try:
            obj = await upload_file(target, item.path, info, progress, item.body)
        except FileNotFoundError:
            raise LocalFileError(
                f"{item.path} no longer exists: it was removed after the directory was walked",
                hint="nothing was sent for it; rerun the sync to match the tree as it is now",
            ) from None
        await outcome.add(obj)

    pipe = Pipeline(client.core.config.concurrency * 2, handle, "sync", outcome)
    await pipe.run(jobs, lambda j: j[0].rel)


async def _same_checksum(client: OssClient, bucket: str, key: str, path: str) -> bool:
    """Sizes match: does the object hold the file's bytes? (its CRC-64 against the file's)"""
    meta = await client.head(bucket, key)
    return meta.crc64 is not None and meta.crc64 == await _file_crc(path)


async def _file_crc(path: str) -> int:
    return await asyncio.to_thread(_crc_of, path)


def _crc_of(path: str) -> int:
    crc = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(4 << 20):
            crc = crc64(chunk, crc)
    return crc


# ---------------------------------------------------------------------------- download


async def sync_download(
    client: OssClient,
    bucket: str,
    prefix: str,
    root: Path,
    opts: SyncOptions,
    progress: Progress,
    outcome: Outcome,
    counts: SyncCounts,
    send: SendDownload | None = None,
) -> None:
    """`send(remote, dest)`: how a decided download is carried out (default: here, now)."""
    if opts.dry_run:  # a dry run creates nothing, not even the destination directory
        there = await asyncio.to_thread(root.exists)
        dest = local_batches(str(root), opts.chosen, outcome) if there else nothing()
    else:
        await asyncio.to_thread(_files.make_dirs, root)
        dest = local_batches(str(root), opts.chosen, outcome)
    progress.totals_final = False
    source = remote_batches(client, bucket, prefix, opts.chosen)
    if opts.delete and not opts.force:
        source = refuse_empty(source, opts.chosen.active)

    async def pairs() -> AsyncIterator[Pair[Remote, Local]]:
        async for batch in merge(source, dest):
            for pair in batch:
                yield pair
        progress.totals_final = True

    async def handle(pair: Pair[Remote, Local]) -> None:
        remote, local = pair.source, pair.dest
        if remote is None:  # only on this machine
            assert local is not None
            if not opts.delete:
                return
            await _call(opts.on_action, SyncAction("delete", "", local.item.path, local.item.size))
            if not opts.dry_run:
                await asyncio.to_thread(os.unlink, local.item.path)
            counts.deleted += 1
            return
        counts.source += 1
        dest = local_path_for(root, remote.key, prefix)
        action = decide(remote.entry, local.entry if local else None, opts.compare)
        if action is Action.CHECK:
            assert local is not None
            same = await _same_download(client, bucket, remote, local, opts.compare)
            action = Action.SKIP if same else Action.SEND
        if action is Action.SKIP:
            counts.skipped += 1
            await _call(
                opts.on_action, SyncAction("skip", remote.key, str(dest), remote.entry.size)
            )
            return
        await _call(opts.on_action, SyncAction("send", remote.key, str(dest), remote.entry.size))
        progress.files_total += 1
        progress.bytes_total += remote.entry.size
        if opts.dry_run:  # counted as it would be received
            size = remote.entry.size
            await outcome.add(TransferredObject(key=remote.key, size=size, local_path=str(dest)))
            return
        if send is not None:
            await send(remote, dest)
            return
        target = ObjectTarget(client, bucket, remote.key)
        try:
            obj = await download_object(
                target, dest, progress, size_hint=remote.entry.size, etag_hint=remote.entry.etag
            )
        except NotFoundError as exc:
            if exc.code != "NoSuchKey":
                raise
            raise NotFoundError(
                f"oss://{bucket}/{remote.key} no longer exists: it was deleted after the listing",
                code=exc.code,
                request_id=exc.request_id,
                status=exc.status,
                hint="nothing was written for it; rerun the sync to match the prefix as it is now",
            ) from None
        await outcome.add(obj)

    pipe = Pipeline(client.core.config.concurrency * 2, handle, "sync", outcome)
    await pipe.run(pairs, lambda p: p.rel)


async def _same_download(
    client: OssClient, bucket: str, remote: Remote, local: Local, compare: str
) -> bool:
    """Sizes match: is the file the same as the object? One HEAD: the listing does not tell
    the object's CRC-64 or the uploader's mtime (x-oss-meta-mtime)."""
    meta = await client.head(bucket, remote.key)
    if compare == "checksum":
        return meta.crc64 is not None and meta.crc64 == await _file_crc(local.item.path)
    wanted = meta.source_mtime_ns
    if wanted is None or local.entry.mtime_ns is None:
        return False
    exact = "mtime" in dict(meta.metadata)  # else Last-Modified: whole seconds
    return wanted == local.entry.mtime_ns if exact else wanted // NS == local.entry.mtime_ns // NS
