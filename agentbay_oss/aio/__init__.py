"""The async core: `AsyncAgentBay` -> `AsyncSession` -> `AsyncOss` (upload, download, ...)."""

from __future__ import annotations

from ..config import TransferConfig
from ..models import (
    ApiResponse,
    ClientConfig,
    DeleteObjectsResult,
    ListObjectsResult,
    ObjectEntry,
    OSSClientResult,
    OSSDownloadResult,
    OSSUploadResult,
    ProgressEvent,
    SessionResult,
    TransferredObject,
)
from ._api import AsyncAgentBay, AsyncOss, AsyncSession

__all__ = [
    "ApiResponse",
    "AsyncAgentBay",
    "AsyncOss",
    "AsyncSession",
    "ClientConfig",
    "DeleteObjectsResult",
    "ListObjectsResult",
    "OSSClientResult",
    "OSSDownloadResult",
    "OSSUploadResult",
    "ObjectEntry",
    "ProgressEvent",
    "SessionResult",
    "TransferConfig",
    "TransferredObject",
]
