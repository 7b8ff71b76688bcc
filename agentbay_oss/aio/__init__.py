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
    OSSSyncResult,
    OSSUploadResult,
    ProgressEvent,
    SessionResult,
    SyncAction,
    TransferredObject,
)
from ._api import AsyncAgentBay, AsyncOss, AsyncSession
from ._client import CredentialsProvider
from ._common import ObjectHook, ProgressHook
from ._sync import ActionHook

__all__ = [
    "ActionHook",
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
    "OSSSyncResult",
    "OSSUploadResult",
    "ObjectEntry",
    "ObjectHook",
    "ProgressEvent",
    "ProgressHook",
    "SessionResult",
    "SyncAction",
    "TransferConfig",
    "TransferredObject",
]
