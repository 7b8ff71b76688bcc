"""The async core: `AsyncAgentBay` -> `AsyncSession` -> `AsyncOss` (upload, download, ...)."""

from __future__ import annotations

from ..config import TransferConfig
from ..models import (
    ApiResponse,
    ClientConfig,
    DeleteObjectsResult,
    ListObjectsResult,
    ObjectEntry,
    OSSBytesResult,
    OSSClientResult,
    OSSCopyResult,
    OSSDownloadResult,
    OSSUploadResult,
    ProgressEvent,
    SessionResult,
    TransferredObject,
)
from ._api import AsyncAgentBay, AsyncOss, AsyncSession
from ._client import CredentialsProvider
from ._common import ObjectHook, ProgressHook

__all__ = [
    "ApiResponse",
    "AsyncAgentBay",
    "AsyncOss",
    "AsyncSession",
    "ClientConfig",
    "CredentialsProvider",
    "DeleteObjectsResult",
    "ListObjectsResult",
    "OSSBytesResult",
    "OSSClientResult",
    "OSSCopyResult",
    "OSSDownloadResult",
    "OSSUploadResult",
    "ObjectEntry",
    "ObjectHook",
    "ProgressEvent",
    "ProgressHook",
    "SessionResult",
    "TransferConfig",
    "TransferredObject",
]
