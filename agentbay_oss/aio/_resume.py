"""Resumable transfers (`TransferConfig(checkpoint_dir=...)`): glue between the engines and the
records of `agentbay_oss.checkpoint`.

Upload: the record holds the upload id, the source's size and mtime, the part size and the
parts sent. A rerun of the same call checks the record against the file, asks the server
(ListParts) which parts it really has and sends only the others; parts the server has but the
record missed (sent just before a crash) are kept when their CRC64 matches the local bytes.

Download: the record holds the temp file beside the destination and the ranges written. A
rerun reuses them while the object keeps its ETag and size; anything else restarts cleanly.

Records are saved after every finished part or range (coalesced: one write at a time, always
of the latest state), so a crash re-sends at most the parts that were in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..checkpoint import (
    CheckpointStore,
    DownloadCheckpoint,
    PartRecord,
    RangeRecord,
    UploadCheckpoint,
    download_identity,
    upload_identity,
)
from ..errors import LocalFileError, NotFoundError
from ..protocol import planning
from ..protocol import xml as oxml
from . import _files
from ._client import ObjectMeta, OssClient
from ._target import Target

log = logging.getLogger("agentbay_oss.aio")
T = TypeVar("T")


async def _in_store(store: CheckpointStore, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking store operation off the loop; its OS errors name the checkpoint_dir."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        raise LocalFileError(
            f"cannot use the resume records in checkpoint_dir {store.directory}: "
            f"{exc.strerror or exc}",
            hint="free space there or fix its permissions, or pick another "
            "TransferConfig.checkpoint_dir",
        ) from exc


class Checkpointer:
    """Saves the latest record of one transfer; many finished parts may ask at once."""

    def __init__(
        self,
        store: CheckpointStore,
        identity: str,
        make: Callable[[], UploadCheckpoint | DownloadCheckpoint],
    ) -> None:
        self.store = store
        self.identity = identity
        self.make = make
        self._lock = asyncio.Lock()
        self._dirty = False
        self.saved = False  # a record is on disk: a failure may leave its upload / temp file

    async def save(self) -> None:
        self._dirty = True
        async with self._lock:
            if not self._dirty:
                return  # a save that started after our change already wrote it
            self._dirty = False
            record = self.make()  # the state as of now, taken on the loop
            await _in_store(self.store, self.store.save, self.identity, record)
            self.saved = True

    async def remove(self) -> None:
        """Best effort: a record left behind is only stale (it is checked before any use)."""
        try:
            await _in_store(self.store, self.store.remove, self.identity)
        except LocalFileError as exc:
            log.warning("%s", exc)


# ---------------------------------------------------------------------------- upload


@dataclass
class ResumedUpload:
    upload_id: str
    parts: dict[int, tuple[int, str, int]] = field(default_factory=dict)  # n -> size, etag, crc


async def _list_parts(
    client: OssClient, bucket: str, key: str, upload_id: str
) -> list[oxml.PartInfo]:
    parts: list[oxml.PartInfo] = []
    marker = 0
    while True:
        query: list[tuple[str, str | None]] = [("uploadId", upload_id), ("max-parts", "1000")]
        if marker:
            query.append(("part-number-marker", str(marker)))
        _, _, body = await client.simple("GET", bucket, key, query=query)
        page = oxml.parse_list_parts(body)
        parts += page.parts
        if not page.is_truncated or page.next_marker <= marker:
            return parts
        marker = page.next_marker


async def abort_upload(client: OssClient, bucket: str, key: str, upload_id: str) -> None:
    """Best effort: an upload that can never be completed should not linger on the server."""
    try:
        await client.simple("DELETE", bucket, key, query=[("uploadId", upload_id)], ok=(200, 204))
    except NotFoundError:
        pass
    except Exception as exc:
        log.warning("aborting the stale upload of oss://%s/%s failed: %s", bucket, key, exc)


def upload_checkpoint(
    client: OssClient, bucket: str, key: str, path: str
) -> tuple[CheckpointStore, str] | None:
    """(store, identity) when checkpoints are on. Blocking (resolves the path): off the loop."""
    directory = client.core.config.checkpoint_dir
    if directory is None:
        return None
    return CheckpointStore(Path(directory)), upload_identity(
        client.endpoint.base, bucket, key, Path(path)
    )


async def resume_upload(
    client: OssClient,
    store: CheckpointStore,
    identity: str,
    bucket: str,
    key: str,
    fd: int,
    path: str,
    info: _files.SourceInfo,
    part_size: int,
) -> ResumedUpload | None:
    """What a previous run of this upload left that is still good, or None to start over."""
    record = await _in_store(store, store.load, identity, UploadCheckpoint)
    if record is None:
        return None
    same_target = (record.endpoint, record.bucket, record.key) == (
        client.endpoint.base,
        bucket,
        key,
    )
    if not same_target or not record.matches_source(info.size, info.mtime_ns, part_size):
        log.info("oss://%s/%s: the source changed since the interrupted upload; restarting",
                 bucket, key)  # fmt: skip
        if same_target:
            await abort_upload(client, bucket, key, record.upload_id)
        await _in_store(store, store.remove, identity)
        return None
    try:
        listed = await _list_parts(client, bucket, key, record.upload_id)
    except NotFoundError:  # aborted, completed or expired meanwhile
        await _in_store(store, store.remove, identity)
        return None
    planned = {p.number: p for p in planning.plan_parts(info.size, part_size)}
    resumed = ResumedUpload(record.upload_id)
    for part in listed:
        plan = planned.get(part.number)
        if plan is None or part.size != plan.size:
            continue
        known = record.parts.get(part.number)
        if known is not None and known.etag.strip('"') == part.etag.strip('"'):
            resumed.parts[part.number] = (part.size, part.etag, known.crc64)
        elif part.crc64 is not None:
            # Sent just before the crash, never recorded: keep it if it holds our bytes.
            _, local = await asyncio.to_thread(_files.read_part, fd, plan.offset, plan.size, path)
            if local == part.crc64:
                resumed.parts[part.number] = (part.size, part.etag, local)
    log.info("oss://%s/%s: resuming upload, %d of %d parts already there",
             bucket, key, len(resumed.parts), len(planned))  # fmt: skip
    return resumed


def upload_record(
    endpoint: str,
    bucket: str,
    key: str,
    path: str,
    info: _files.SourceInfo,
    part_size: int,
    upload_id: str,
    parts: dict[int, tuple[int, str, int]],
) -> UploadCheckpoint:
    return UploadCheckpoint(
        endpoint=endpoint,
        bucket=bucket,
        key=key,
        source_path=path,
        source_size=info.size,
        source_mtime_ns=info.mtime_ns,
        part_size=part_size,
        upload_id=upload_id,
        parts={
            n: PartRecord(number=n, size=size, etag=etag, crc64=crc)
            for n, (size, etag, crc) in sorted(parts.items())
        },
    )


# ---------------------------------------------------------------------------- download


@dataclass
class DownloadResume:
    """The temp file and finished ranges of a resumable download."""

    checkpointer: Checkpointer
    record: DownloadCheckpoint
    fd: int | None = None  # open temp file when one was reused

    @property
    def done(self) -> dict[int, RangeRecord]:
        return self.record.ranges

    async def range_done(self, offset: int, length: int, crc: int) -> None:
        self.record.ranges[offset] = RangeRecord(offset=offset, length=length, crc64=crc)
        await self.checkpointer.save()

    async def drop(self) -> None:
        """Forget it all: the object changed or the bytes are bad."""
        await self.checkpointer.remove()


def _open_existing_temp(path: str, size: int) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if os.fstat(fd).st_size != size:
        os.close(fd)
        return None
    return fd


async def resume_download(
    target: Target, dest: Path, meta: ObjectMeta, range_size: int
) -> DownloadResume | None:
    """None without checkpoint_dir; else the saved state (fd set when the temp file is reused)."""
    directory = target.core.config.checkpoint_dir
    if directory is None:
        return None
    store = CheckpointStore(Path(directory))
    endpoint, bucket, key = target.resume_identity()
    identity, dest_path = await asyncio.to_thread(
        lambda: (download_identity(endpoint, bucket, key, dest), str(dest.resolve()))
    )
    record = await _in_store(store, store.load, identity, DownloadCheckpoint)
    fd = None
    if record is not None:
        reusable = (
            record.matches_object(meta.etag, meta.size, range_size)
            and bool(meta.etag)
            and Path(record.temp_path).parent == dest.parent
        )
        if reusable:
            fd = await asyncio.to_thread(_open_existing_temp, record.temp_path, meta.size)
        if fd is None:
            log.info("%s changed since the interrupted download; restarting", target.where)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.unlink, record.temp_path)
            record = None
        else:
            log.info("%s: resuming download, %d ranges already there",
                     target.where, len(record.ranges))  # fmt: skip
    if record is None:
        record = DownloadCheckpoint(
            endpoint=endpoint,
            bucket=bucket,
            key=key,
            dest_path=dest_path,
            temp_path="",  # set once the temp file exists
            etag=meta.etag,
            size=meta.size,
            range_size=range_size,
        )
    rec = record
    # Saved from a worker thread while ranges keep finishing: hand it a copy.
    return DownloadResume(Checkpointer(store, identity, lambda: rec.model_copy(deep=True)), rec, fd)
