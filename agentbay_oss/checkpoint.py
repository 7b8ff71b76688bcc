"""Resume records for interrupted transfers (`TransferConfig(checkpoint_dir=...)`).

A record says what a rerun of the same call may reuse: for an upload, the multipart upload id
and the parts already sent, valid only while the source file keeps its size and mtime; for a
download, the temp file and the ranges already written, valid only while the object keeps its
ETag. Records are small JSON files written atomically (temp file + os.replace), one per
transfer, named by a hash of what identifies the transfer, so they never hold a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

FORMAT_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = FORMAT_VERSION


class PartRecord(BaseModel):
    number: int
    size: int
    etag: str
    crc64: int


class UploadCheckpoint(_Record):
    kind: Literal["upload"] = "upload"
    endpoint: str
    bucket: str
    key: str
    source_path: str
    source_size: int
    source_mtime_ns: int
    part_size: int
    upload_id: str
    parts: dict[int, PartRecord] = {}

    def matches_source(self, size: int, mtime_ns: int, part_size: int) -> bool:
        """True when the file is the one the record was made from and parts line up."""
        return (self.source_size, self.source_mtime_ns, self.part_size) == (
            size,
            mtime_ns,
            part_size,
        )


class RangeRecord(BaseModel):
    offset: int
    length: int
    crc64: int


class DownloadCheckpoint(_Record):
    kind: Literal["download"] = "download"
    endpoint: str
    bucket: str
    key: str
    dest_path: str
    temp_path: str
    etag: str
    size: int
    range_size: int
    ranges: dict[int, RangeRecord] = {}

    def matches_object(self, etag: str, size: int, range_size: int) -> bool:
        return (self.etag.strip('"'), self.size, self.range_size) == (
            etag.strip('"'),
            size,
            range_size,
        )


Checkpoint = TypeVar("Checkpoint", UploadCheckpoint, DownloadCheckpoint)


def upload_identity(endpoint: str, bucket: str, key: str, source: Path) -> str:
    return "\0".join(("upload", endpoint, bucket, key, str(source.resolve())))


def download_identity(endpoint: str, bucket: str, key: str, dest: Path) -> str:
    return "\0".join(("download", endpoint, bucket, key, str(dest.resolve())))


class CheckpointStore:
    """Blocking file operations: call them from a worker thread, never on the event loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, identity: str) -> Path:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def load(self, identity: str, model: type[Checkpoint]) -> Checkpoint | None:
        """The record, or None when there is none or it is unreadable (then it is dropped)."""
        path = self.path_for(identity)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = model.model_validate_json(raw)
        except (ValidationError, ValueError):
            self.remove(identity)
            return None
        return record if record.version == FORMAT_VERSION else None

    def save(self, identity: str, record: UploadCheckpoint | DownloadCheckpoint) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(identity)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".ckpt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record.model_dump(mode="json"), handle)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def remove(self, identity: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(identity).unlink()
