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
from typing import Generic, TypeVar

from ..errors import InvalidInputError, ProtocolError
from ..models import SyncAction, TransferredObject
from ..protocol.crc64 import crc64
from ..protocol.keys import local_path_for, validate_key
from ..protocol.syncplan import (
    NS,
    Action,
    Entry,
    PathFilter,
    decide,
    object_is_current,
    sort_key,
)
from . import _files
from ._client import OssClient
from ._common import Outcome, Pipeline, Progress, walk_tree
from ._download import download_object
from ._target import ObjectTarget
from ._upload import upload_file

L = TypeVar("L")
R = TypeVar("R")
T = TypeVar("T")
ActionHook = Callable[[SyncAction], "Awaitable[None] | None"]
DELETE_BATCH = 1000
READ_AHEAD_BATCH = 256  # files decided for sending, read (the small ones) in one thread hop


@dataclass
class SyncCounts:
    skipped: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class Local:
    """A file of the local side: what the walker saw (and read, for small files)."""

    entry: Entry
    item: _files.WalkItem


@dataclass(frozen=True)
class Remote:
    entry: Entry
    key: str


@dataclass(frozen=True)
class Pair(Generic[L, R]):
    """One relative key, as the source and the destination have it (None: missing)."""

    rel: str
    source: L | None
    dest: R | None


Job = tuple[Pair[Local, Remote], Action]  # an upload decided SEND, or CHECK (checksum)


async def merge(
    source: AsyncIterator[tuple[str, L]], dest: AsyncIterator[tuple[str, R]]
) -> AsyncIterator[Pair[L, R]]:
    """Pair two streams sorted by `sort_key`; a stream out of order is an error (a wrong
    pairing would send or delete the wrong files). Each key is encoded once."""
    a, ka = await _advance(source, "source", b"")
    b, kb = await _advance(dest, "destination", b"")
    while a is not None or b is not None:
        if b is None or (a is not None and ka < kb):
            assert a is not None
            yield Pair(a[0], a[1], None)
            a, ka = await _advance(source, "source", ka)
        elif a is None or kb < ka:
            yield Pair(b[0], None, b[1])
            b, kb = await _advance(dest, "destination", kb)
        else:
            yield Pair(a[0], a[1], b[1])
            a, ka = await _advance(source, "source", ka)
            b, kb = await _advance(dest, "destination", kb)


async def _advance(
    stream: AsyncIterator[tuple[str, T]], side: str, last: bytes
) -> tuple[tuple[str, T] | None, bytes]:
    """The stream's next item and its sort key, checked to come after `last`."""
    item = await anext(stream, None)
    if item is None:
        return None, last
    key = sort_key(item[0])
    if key <= last:
        raise ProtocolError(
            f"the {side} side is not in key order at {item[0]!r}; refusing to sync",
            hint="OSS lists keys in UTF-8 byte order; is the endpoint an OSS service?",
        )
    return item, key


async def local_files(
    root: str, chosen: PathFilter, progress: Progress, outcome: Outcome, read_ahead: bool
) -> AsyncIterator[tuple[str, Local]]:
    """The regular files below `root`, in key order; unreadable entries are failures."""
    async for item in walk_tree(root, progress, read_ahead):
        if item.is_dir_marker:
            continue
        rel = "/".join(item.rel)
        if item.error:
            outcome.record(item.path, InvalidInputError(item.error, hint=item.hint))
            continue
        if chosen(rel):
            yield rel, Local(Entry(rel, item.size, item.mtime_ns), item)


async def remote_objects(
    client: OssClient, bucket: str, prefix: str, chosen: PathFilter
) -> AsyncIterator[tuple[str, Remote]]:
    """The objects under `prefix`, in key order; `dir/` markers are not files."""
    async for page in client.iter_list(bucket, prefix):
        for e in page.entries:
            rel = e.key[len(prefix) :]
            if not rel or rel.endswith("/") or not chosen(rel):
                continue
            modified = int(e.last_modified.timestamp()) * NS if e.last_modified else None
            yield rel, Remote(Entry(rel, e.size, modified, e.etag), e.key)


async def _call(hook: ActionHook | None, action: SyncAction) -> None:
    if hook is not None:
        got = hook(action)
        if inspect.isawaitable(got):
            await got


async def _peek_nonempty(stream: AsyncIterator[tuple[str, L]]) -> AsyncIterator[tuple[str, L]]:
    """`stream` unchanged, but an empty one is refused before anything else happens."""
    first = await anext(stream, None)
    if first is None:
        raise InvalidInputError(
            "the source is empty: with delete=True the sync would delete everything at the "
            "destination",
            hint="check the source path or prefix (a typo?); to empty the destination, delete "
            "it explicitly",
        )
    yield first
    async for item in stream:
        yield item


# ---------------------------------------------------------------------------- upload


@dataclass(frozen=True)
class SyncOptions:
    delete: bool
    compare: str
    dry_run: bool
    chosen: PathFilter
    on_action: ActionHook | None


async def sync_upload(
    client: OssClient,
    bucket: str,
    prefix: str,
    root: str,
    opts: SyncOptions,
    progress: Progress,
    outcome: Outcome,
    counts: SyncCounts,
) -> None:
    """Skips are settled as the streams are merged (nothing queued, nothing read); only the
    files to send, or to checksum, go to the workers. The walker reads nothing ahead: the
    files to send are read here in batches, one worker-thread hop per batch."""
    progress.totals_final = False
    walk = local_files(root, opts.chosen, progress, outcome, read_ahead=False)
    source: AsyncIterator[tuple[str, Local]] = walk
    if opts.delete:
        source = _peek_nonempty(source)
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
        if sends and not opts.dry_run:
            await asyncio.to_thread(_files.read_ahead, sends)
        return jobs

    async def jobs() -> AsyncIterator[Job]:
        async for pair in merge(source, remote_objects(client, bucket, prefix, opts.chosen)):
            local, remote = pair.source, pair.dest
            if local is None:  # only in the bucket
                assert remote is not None
                if opts.delete:
                    doomed.append(remote.key)
                    await _call(
                        opts.on_action, SyncAction("delete", remote.key, "", remote.entry.size)
                    )
                    if len(doomed) >= DELETE_BATCH:
                        await flush()
                continue
            action = decide(local.entry, remote.entry if remote else None, opts.compare)
            if action is Action.CHECK and opts.compare != "checksum":
                assert remote is not None  # size_mtime: the listing tells enough
                action = (
                    Action.SKIP if object_is_current(local.entry, remote.entry) else Action.SEND
                )
            if action is Action.SKIP:
                counts.skipped += 1
                if opts.on_action is not None:
                    key = prefix + pair.rel
                    await _call(
                        opts.on_action, SyncAction("skip", key, local.item.path, local.item.size)
                    )
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
        info = _files.SourceInfo(item.size, item.mtime_ns)
        target = ObjectTarget(client, bucket, key)
        await outcome.add(await upload_file(target, item.path, info, progress, item.body))

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
) -> None:
    await asyncio.to_thread(_files.make_dirs, root)
    progress.totals_final = False
    source: AsyncIterator[tuple[str, Remote]] = remote_objects(client, bucket, prefix, opts.chosen)
    if opts.delete:
        source = _peek_nonempty(source)
    walk_progress = Progress(None)  # the destination's walk is not what is transferred

    async def pairs() -> AsyncIterator[Pair[Remote, Local]]:
        dest = local_files(str(root), opts.chosen, walk_progress, outcome, read_ahead=False)
        async for pair in merge(source, dest):
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
        target = ObjectTarget(client, bucket, remote.key)
        obj = await download_object(
            target, dest, progress, size_hint=remote.entry.size, etag_hint=remote.entry.etag
        )
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
