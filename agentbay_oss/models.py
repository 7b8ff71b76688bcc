"""Result models (pydantic v2) returned by the `Oss` services of both APIs.

The services never raise for operational errors: they return `success=False` and an
`error_message` a person can act on. `raise_for_error()` turns a failed result into the
typed exception (`agentbay_oss.errors`) for people who prefer exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer

from .errors import OssError


class ApiResponse(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    request_id: str = ""
    success: bool
    error_message: str = ""
    # The typed exception behind a failure (not serialised).
    _error: OssError | None = PrivateAttr(default=None)

    @property
    def error(self) -> OssError | None:
        return self._error

    def raise_for_error(self) -> None:
        """Raise the typed exception of a failed result; do nothing on success."""
        if self.success:
            return
        if self._error is not None:
            raise self._error
        raise OssError(self.error_message or "operation failed", request_id=self.request_id)


class ClientConfig(BaseModel):
    """What env_init configured. Never holds the secret or the token."""

    endpoint: str
    region: str
    signature_version: str
    addressing_style: str
    access_key_id: str  # masked
    has_security_token: bool
    has_credentials_provider: bool = False


class OSSClientResult(ApiResponse):
    client_config: ClientConfig | None = None


class TransferredObject(BaseModel):
    key: str
    size: int
    etag: str = ""
    crc64: int | None = None
    local_path: str = ""
    content_type: str = ""  # as stored (downloads) or sent (uploads); "" when not known
    # User metadata (x-oss-meta-*), names lower-cased. A factory, not `= {}`: pydantic
    # deep-copies a mutable default for every instance (half the cost of building one).
    metadata: dict[str, str] = Field(default_factory=dict)


class _TransferResult(ApiResponse):
    content: str = ""
    files: int = 0  # objects transferred (directory markers not counted)
    bytes: int = 0
    failed: int = 0  # items that failed (the first few are named in error_message)
    elapsed: float = 0.0
    # The object of a single-object call. Directory transfers keep counts only: their
    # objects go to the call's `on_object` hook as they are done.
    objects: list[TransferredObject] = []


class OSSUploadResult(_TransferResult):
    pass


class OSSDownloadResult(_TransferResult):
    pass


class OSSSyncResult(_TransferResult):
    """A sync: `files` / `bytes` were sent; `skipped` were the same on both sides; `deleted`
    were removed from the destination (delete=True). With dry_run=True nothing changed and
    the counts say what would have happened."""

    skipped: int = 0
    deleted: int = 0
    dry_run: bool = False


@dataclass(frozen=True)
class SyncAction:
    """Handed to a sync's `on_action` hook for every file it decides about."""

    action: str  # "send", "skip" or "delete"
    key: str  # the object key ("" for a local file deleted by sync_download)
    path: str  # the local path ("" for an object deleted by sync_upload)
    size: int


class OSSCopyResult(_TransferResult):
    """A server-side copy: `objects` are the copies made (no local paths)."""


class OSSBytesResult(ApiResponse):
    """A whole object in memory (`download_bytes`)."""

    data: bytes = b""
    size: int = 0
    etag: str = ""
    crc64: int | None = None
    content_type: str = ""
    metadata: dict[str, str] = {}

    def __repr__(self) -> str:  # a large payload is not for logs
        return (
            f"OSSBytesResult(success={self.success}, size={self.size}, etag={self.etag!r}, "
            f"error_message={self.error_message!r})"
        )


class ObjectEntry(BaseModel):
    key: str
    size: int
    etag: str = ""
    last_modified: datetime | None = None


class ListObjectsResult(ApiResponse):
    entries: list[ObjectEntry] = []
    common_prefixes: list[str] = []


class DeleteObjectsResult(ApiResponse):
    deleted: list[str] = []


class SessionResult(ApiResponse):
    session: Any = None  # AsyncSession or Session

    @field_serializer("session")
    def _dump_session(self, session: Any) -> str | None:
        # A session is a live object: dumps (model_dump_json, logs) show its id only.
        return getattr(session, "session_id", None) if session is not None else None


@dataclass(frozen=True)
class ProgressEvent:
    """Handed to the progress hook at part / range / file granularity.

    Totals of a directory transfer grow while the tree or listing is still being walked;
    `totals_final` says when they are complete.
    """

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    key: str = ""
    totals_final: bool = True
