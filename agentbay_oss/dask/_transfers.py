"""The coordinator: walk or list as streams, cut batches, split big files, merge reports.

Files below `multipart_threshold` go to workers in batches (one PUT / GET / CopyObject each).
A bigger file is split: its multipart upload is initiated here, its parts sent by workers in
pieces of `batch_bytes`, and it is completed (or aborted on any failure, also when cancelled)
here; a big download's ranges are written by workers into one temp file preallocated here,
and renamed here once the whole object's CRC-64 matches. So no multipart upload is started
on a worker (a lost worker cannot orphan one), and only this process renames a split file.
A big copy runs here: UploadPartCopy moves no byte through any machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from ..aio import _files
from ..aio import _sync as local_sync
from ..aio._client import OssClient
from ..aio._common import Outcome, Progress, is_fatal, run_pool, walk_tree
from ..aio._copy import copy_object
from ..aio._download import _whole, create_temp, whole_crc
from ..aio._errors import from_exception
from ..aio._syncstreams import Local, Remote
from ..aio._target import ObjectTarget
from ..aio._upload import abort_shielded, complete, start_multipart
from ..errors import InvalidInputError, OssError, SourceChangedError
from ..models import TransferredObject
from ..protocol import planning
from ..protocol.keys import local_path_for, validate_key
from ..protocol.metadata import META_PREFIX, MTIME
from ..protocol.syncplan import PathFilter
from . import _worker
from ._batches import Batcher
from ._cluster import Connected
from ._items import CopyItem, DownItem, Report, Span, UpItem

T_ = TypeVar("T_")


def group_spans(spans: list[Span], nbytes: int) -> list[list[Span]]:
    """Consecutive spans in groups of at most `nbytes` (at least one span each)."""
    groups: list[list[Span]] = []
    size = 0
    for span in spans:
        if not groups or size + span.size > nbytes:
            groups.append([])
            size = 0
        groups[-1].append(span)
        size += span.size
    return groups


class Job:
    """One transfer on the cluster: its batcher, and the caller's outcome and progress."""

    def __init__(
        self, conn: Connected, client: OssClient, progress: Progress, outcome: Outcome
    ) -> None:
        self.conn = conn
        self.client = client
        self.progress = progress
        self.outcome = outcome
        self.threshold = client.core.config.multipart_threshold
        self.batch_bytes = conn.opts.batch_bytes

    def batcher(self, run: Callable[[list[T_]], Awaitable[Report]]) -> Batcher[T_]:
        async def merged(batch: list[T_]) -> None:
            await self.merge(await run(batch))

        opts = self.conn.opts
        return Batcher(merged, opts.batch_files, opts.batch_bytes, self.conn.in_flight)

    async def merge(self, report: Report) -> None:
        """A batch's report into the caller's counts, hooks and progress."""
        prog = self.progress
        for obj in report.objects:
            await self.outcome.add(obj)
            if not obj.key.endswith("/"):
                prog.files_done += 1
                prog.bytes_done += obj.size
        for where, err in report.errors:
            self.outcome.record(where, err)
        self.outcome.failed += report.failed - len(report.errors)
        if report.objects:
            await prog.emit(report.objects[-1].key)

    async def one_file(self, label: str, work: Callable[[], Awaitable[None]]) -> None:
        """A split file's failure is that file's, unless it dooms every file (auth, ...)."""
        try:
            await work()
        except Exception as exc:
            err = from_exception(exc, label)
            if is_fatal(err):
                if err is exc:
                    raise
                raise err from exc
            self.outcome.record(label, err)

    async def pieces(
        self, batcher: Batcher[T_], spans: list[Span], send: Callable[[list[Span]], Awaitable[None]]
    ) -> None:
        """Send a split file's pieces, each holding one of the batcher's in-flight slots."""

        async def one(group: list[Span]) -> None:
            async with batcher.slots:
                await send(group)

        await run_pool(group_spans(spans, self.batch_bytes), self.conn.in_flight, one)

    # ------------------------------------------------------------------------ uploads

    async def big_upload(
        self,
        batcher: Batcher[T_],
        bucket: str,
        key: str,
        path: str,
        info: _files.SourceInfo,
        headers: Mapping[str, str] | None,
    ) -> None:
        target = ObjectTarget(self.client, bucket, key)
        h = dict(headers or {})
        h.setdefault(META_PREFIX + MTIME, str(info.mtime_ns))  # as upload_file stores it
        part_size = planning.part_size_for(
            info.size, self.client.core.config.part_size, planning.MAX_PARTS
        )
        spans = [
            Span(p.offset, p.size, p.number) for p in planning.plan_parts(info.size, part_size)
        ]
        mp = await start_multipart(target, h, part_size)
        try:

            async def send(group: list[Span]) -> None:
                done = await self.conn.call(
                    _worker.upload_parts,
                    bucket,
                    key,
                    mp.upload_id,
                    path,
                    (info.size, info.mtime_ns),
                    group,
                )
                for part in done:
                    mp.parts[part.number] = part
                await self.progress.add_bytes(sum(p.size for p in done), target.where)

            await self.pieces(batcher, spans, send)
            _, now = await asyncio.to_thread(_files.stat_source, path)
            if now != info:
                raise SourceChangedError(
                    f"{path} changed while it was being uploaded (size or mtime)",
                    hint="nothing was stored; upload it again when it is stable",
                )
            etag = await complete(mp)
        except BaseException:
            await abort_shielded(mp)
            raise
        obj = TransferredObject(key=key, size=info.size, etag=etag, crc64=mp.combined_crc())
        obj.local_path, obj.content_type = path, h.get("Content-Type", "")
        await self.progress.file_done(key)
        await self.outcome.add(obj)

    async def send_upload(
        self,
        batcher: Batcher[UpItem],
        bucket: str,
        key: str,
        item: _files.WalkItem,
        headers: Mapping[str, str] | None,
    ) -> None:
        info = _files.SourceInfo(item.size, item.mtime_ns)
        if item.size >= self.threshold and item.size > 0:

            async def big() -> None:
                await self.big_upload(batcher, bucket, key, item.path, info, headers)

            await batcher.spawn(lambda: self.one_file(item.path, big))
        else:
            hdrs = dict(headers) if headers is not None else None
            await batcher.add(UpItem(key, item.path, item.size, item.mtime_ns, hdrs), item.size)

    def upload_batcher(self, bucket: str) -> Batcher[UpItem]:
        return self.batcher(lambda b: self.conn.call(_worker.upload_files, bucket, b))

    # ------------------------------------------------------------------------ downloads

    async def big_download(self, batcher: Batcher[T_], bucket: str, key: str, dest: Path) -> None:
        target = ObjectTarget(self.client, bucket, key)
        meta = await target.head()  # its ETag pins every range to this version
        range_size = planning.part_size_for(meta.size, self.client.core.config.part_size)
        spans = [Span(off, n) for off, n in planning.plan_ranges(meta.size, range_size)]
        fd, tmp = await create_temp(dest, meta.size)
        done: dict[int, tuple[int, int]] = {}
        owned = True
        try:

            async def fetch(group: list[Span]) -> None:
                got = await self.conn.call(
                    _worker.download_ranges, bucket, key, str(tmp), meta, group
                )
                for off, n, crc in got:
                    done[off] = (crc, n)
                await self.progress.add_bytes(sum(n for _, n, _ in got), target.where)

            await self.pieces(batcher, spans, fetch)
            crc = whole_crc(target, meta, (done[s.offset] for s in spans))
            owned = False
            await asyncio.to_thread(_files.finish_temp, fd, tmp, dest, meta.source_mtime_ns)
        finally:
            if owned:
                _files.discard_temp(fd, tmp)
        await self.progress.file_done(target.where)
        obj = _whole(target, dest, meta.size, meta, crc)
        obj.key = key
        await self.outcome.add(obj)

    async def send_download(
        self, batcher: Batcher[DownItem], bucket: str, key: str, size: int, etag: str, dest: Path
    ) -> None:
        if size >= self.threshold and size > 0:

            async def big() -> None:
                await self.big_download(batcher, bucket, key, dest)

            await batcher.spawn(lambda: self.one_file(f"oss://{bucket}/{key}", big))
        else:
            await batcher.add(DownItem(key, str(dest), size, etag), size)

    def download_batcher(self, bucket: str) -> Batcher[DownItem]:
        return self.batcher(lambda b: self.conn.call(_worker.download_files, bucket, b))


async def _drive(batcher: Batcher[T_], feed: Callable[[], Awaitable[None]]) -> None:
    """Run `feed` (the walk or listing adding work), then wait for every batch; on any
    failure or cancellation, what is out is stopped and cleaned up first."""
    try:
        await feed()
        await batcher.close()
    except BaseException:
        await batcher.cancel()
        raise


# ---------------------------------------------------------------------------- operations


async def upload_dir(
    job: Job,
    bucket: str,
    prefix: str,
    root: str,
    headers_for: Callable[[str], Mapping[str, str]] | None,
    chosen: PathFilter,
) -> None:
    """As `aio._upload.upload_dir` for an ObjectTarget prefix, on the cluster."""
    batcher = job.upload_batcher(bucket)

    async def feed() -> None:
        async for item in walk_tree(root, job.progress):
            if item.error:
                job.outcome.record(item.path, InvalidInputError(item.error, hint=item.hint))
                continue
            rel = "/".join(item.rel)
            if chosen.active and not chosen(rel):
                continue
            key = prefix + rel + ("/" if item.is_dir_marker and rel else "")
            if item.is_dir_marker and not key:
                continue  # an empty tree uploaded to the bucket root: nothing to record
            try:
                validate_key(key)
            except OssError as exc:
                job.outcome.record(item.path, exc)
                continue
            if item.is_dir_marker:
                await batcher.add(UpItem(key, item.path, 0, 0, marker=True), 0)
                continue
            headers = headers_for(rel) if headers_for is not None else None
            await job.send_upload(batcher, bucket, key, item, headers)

    await _drive(batcher, feed)


async def download_prefix(
    job: Job, bucket: str, prefix: str, root: Path, chosen: PathFilter
) -> None:
    """As `aio._download.download_prefix`, on the cluster."""
    batcher = job.download_batcher(bucket)
    prog = job.progress

    async def feed() -> None:
        prog.totals_final = False
        async for page in job.client.iter_list(bucket, prefix):
            for e in page.entries:
                if chosen.active and not chosen(e.key[len(prefix) :]):
                    continue
                try:
                    dest = local_path_for(root, e.key, prefix)
                except OssError as exc:
                    job.outcome.record(f"oss://{bucket}/{e.key}", exc)
                    continue
                if e.key.endswith("/"):
                    await batcher.add(DownItem(e.key, str(dest), 0, marker=True), 0)
                    continue
                prog.files_total += 1
                prog.bytes_total += e.size
                await job.send_download(batcher, bucket, e.key, e.size, e.etag, dest)
        prog.totals_final = True

    await _drive(batcher, feed)


async def copy_prefix(
    job: Job, src_bucket: str, src_prefix: str, dst_bucket: str, dst_prefix: str
) -> None:
    """As `aio._copy.copy_prefix`, on the cluster (big objects copied from here)."""
    batcher: Batcher[CopyItem] = job.batcher(
        lambda b: job.conn.call(_worker.copy_objects, src_bucket, dst_bucket, b)
    )
    prog = job.progress

    async def feed() -> None:
        prog.totals_final = False
        async for page in job.client.iter_list(src_bucket, src_prefix):
            for e in page.entries:
                prog.files_total += 1
                prog.bytes_total += e.size
                dst_key = dst_prefix + e.key[len(src_prefix) :]
                if e.size < job.threshold or e.size == 0:
                    await batcher.add(CopyItem(e.key, dst_key, e.size), e.size)
                    continue
                src = ObjectTarget(job.client, src_bucket, e.key)
                dst = ObjectTarget(job.client, dst_bucket, dst_key)

                async def big(src: ObjectTarget = src, dst: ObjectTarget = dst) -> None:
                    await job.outcome.add(await copy_object(src, dst, prog))

                label = f"oss://{src_bucket}/{e.key}"
                await batcher.spawn(lambda label=label, big=big: job.one_file(label, big))  # type: ignore[misc]
        prog.totals_final = True

    await _drive(batcher, feed)


async def sync_upload(
    job: Job,
    bucket: str,
    prefix: str,
    root: str,
    opts: local_sync.SyncOptions,
    counts: local_sync.SyncCounts,
) -> None:
    """The local merge and decisions, sends carried out on the cluster."""
    batcher = job.upload_batcher(bucket)

    async def send(key: str, local: Local) -> None:
        await job.send_upload(batcher, bucket, key, local.item, None)

    async def feed() -> None:
        await local_sync.sync_upload(
            job.client, bucket, prefix, root, opts, job.progress, job.outcome, counts, send
        )

    await _drive(batcher, feed)


async def sync_download(
    job: Job,
    bucket: str,
    prefix: str,
    root: Path,
    opts: local_sync.SyncOptions,
    counts: local_sync.SyncCounts,
) -> None:
    batcher = job.download_batcher(bucket)

    async def send(remote: Remote, dest: Path) -> None:
        e = remote.entry
        await job.send_download(batcher, bucket, remote.key, e.size, e.etag, dest)

    async def feed() -> None:
        await local_sync.sync_download(
            job.client, bucket, prefix, root, opts, job.progress, job.outcome, counts, send
        )

    await _drive(batcher, feed)
