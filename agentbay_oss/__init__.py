"""agentbay-oss: fast, safe transfers between a machine and Alibaba Cloud OSS.

Blocking API here (`AgentBay`, `Session`, `Oss`); the async API, with the same names prefixed
`Async`, in `agentbay_oss.aio`. Both return the same pydantic result models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Imported on first use (PEP 562, see _lazy.py): the CLI's --version and --help need none of it.
if TYPE_CHECKING:
    from .config import TransferConfig
    from .errors import (
        AuthError,
        ClientError,
        IntegrityError,
        InvalidInputError,
        LocalFileError,
        NotFoundError,
        NotInitializedError,
        OssError,
        PreconditionError,
        ProtocolError,
        ServerError,
        SessionClosedError,
        SourceChangedError,
        TokenExpiredError,
        TransportError,
        UnsafeKeyError,
    )
    from .models import (
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
    from .protocol.signing import Credentials
    from .sync import AgentBay, Oss, Session
else:
    from ._lazy import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        globals(),
        {
            ".config": ("TransferConfig",),
            ".errors": (
                "AuthError",
                "ClientError",
                "IntegrityError",
                "InvalidInputError",
                "LocalFileError",
                "NotFoundError",
                "NotInitializedError",
                "OssError",
                "PreconditionError",
                "ProtocolError",
                "ServerError",
                "SessionClosedError",
                "SourceChangedError",
                "TokenExpiredError",
                "TransportError",
                "UnsafeKeyError",
            ),
            ".models": (
                "ApiResponse",
                "ClientConfig",
                "DeleteObjectsResult",
                "ListObjectsResult",
                "ObjectEntry",
                "OSSBytesResult",
                "OSSCopyResult",
                "OSSSyncResult",
                "SyncAction",
                "OSSClientResult",
                "OSSDownloadResult",
                "OSSUploadResult",
                "ProgressEvent",
                "SessionResult",
                "TransferredObject",
            ),
            ".protocol.signing": ("Credentials",),
            ".sync": ("AgentBay", "Oss", "Session"),
        },
    )

__all__ = [
    "AgentBay",
    "ApiResponse",
    "AuthError",
    "ClientConfig",
    "ClientError",
    "Credentials",
    "DeleteObjectsResult",
    "IntegrityError",
    "InvalidInputError",
    "ListObjectsResult",
    "LocalFileError",
    "NotFoundError",
    "NotInitializedError",
    "OSSBytesResult",
    "OSSClientResult",
    "OSSCopyResult",
    "OSSDownloadResult",
    "OSSSyncResult",
    "OSSUploadResult",
    "ObjectEntry",
    "Oss",
    "OssError",
    "PreconditionError",
    "ProgressEvent",
    "ProtocolError",
    "ServerError",
    "Session",
    "SessionClosedError",
    "SessionResult",
    "SourceChangedError",
    "SyncAction",
    "TokenExpiredError",
    "TransferConfig",
    "TransferredObject",
    "TransportError",
    "UnsafeKeyError",
    "__version__",
]
