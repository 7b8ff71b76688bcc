"""Typed exceptions used inside the SDK; the `Oss` services turn them into failed results.

A flat hierarchy in the spirit of httpcore: callers who prefer exceptions get them from
`ApiResponse.raise_for_error()`. Messages say what failed, where, and what to do, and never
contain a secret (the transport masks signatures, tokens and presigned query strings).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any

import aiohttp


class OssError(Exception):
    """Base class. `code` is the OSS error code when the server sent one."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        request_id: str = "",
        status: int = 0,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status = status
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.code and self.code not in text:
            text += f" [{self.code}]"
        if self.status:
            text += f" (HTTP {self.status})"
        if self.request_id:
            text += f" request id {self.request_id}"
        if self.hint:
            text += f". {self.hint}"
        return text


class InvalidInputError(OssError):
    """A bad argument: key, bucket, path, URL, configuration."""


class NotInitializedError(InvalidInputError):
    """upload/download called before env_init."""


class SessionClosedError(InvalidInputError):
    """The session was deleted."""


class UnsafeKeyError(InvalidInputError):
    """An object key that would be written outside the destination directory."""


class LocalFileError(OssError):
    """Reading or writing a local file failed (permissions, disk full, ...)."""


class SourceChangedError(LocalFileError):
    """The file being uploaded changed size or modification time during the upload."""


class AuthError(OssError):
    """403: wrong key, bad signature, missing or invalid STS token, access denied."""


class TokenExpiredError(AuthError):
    """SecurityTokenExpired: a credentials provider may supply fresh credentials."""


class NotFoundError(OssError):
    """404: no such bucket, key or upload."""


class PreconditionError(OssError):
    """412: the object changed during the transfer (ETag no longer matches)."""


class ClientError(OssError):
    """Any other 4xx answer."""


class ServerError(OssError):
    """5xx (and 429): retried with backoff."""

    retryable = True

    def __init__(self, message: str, *, delay: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.delay = delay  # from x-oss-qos-delay-time, seconds


class TransportError(OssError):
    """Connection refused or reset, timeouts, truncated bodies: retried with backoff."""

    retryable = True


class IntegrityError(OssError):
    """A CRC64 or MD5 mismatch, or a body shorter than announced: retried, then reported."""

    retryable = True

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault(
            "hint",
            "the data was damaged on the way and retries did not help (nothing damaged was "
            "kept locally): download or upload again",
        )
        super().__init__(message, **kw)


class ProtocolError(OssError):
    """The server answered something that is not OSS (garbage XML, HTML, missing headers)."""


def from_exception(exc: BaseException, where: str) -> OssError:
    """Map a library or OS exception to an OssError; `where` names the endpoint or path."""
    if isinstance(exc, OssError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TransportError(
            f"cannot resolve the host of {where}",
            hint="check the endpoint spelling and your DNS / network",
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TransportError(
            f"TLS certificate of {where} was rejected",
            hint="check the endpoint, or the system CA certificates",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(
            f"cannot connect to {where}: {exc.strerror or exc.__class__.__name__}",
            hint="check the endpoint, that the server is running, and firewalls",
        )
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return TransportError(
            f"timed out talking to {where}",
            hint="the network or server is slow; raise TransferConfig.read_timeout or retry",
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransportError(f"the response body from {where} was cut short")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TransportError(f"{where} closed the connection")
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidInputError(f"invalid URL {where}")
    if isinstance(exc, (aiohttp.ClientError, ssl.SSLError, socket.gaierror, ConnectionError)):
        return TransportError(f"connection to {where} failed: {exc.__class__.__name__}")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        hint = {
            errno.ENOSPC: "free disk space at the destination",
            errno.EFBIG: "the file is bigger than the destination allows (its file system's "
            "limit, or ulimit -f)",
            errno.EACCES: "check file permissions",
            errno.EPERM: "check file permissions",
            errno.EROFS: "the destination is read-only; pick another path",
            errno.ENOENT: "check that the path exists",
            errno.EISDIR: "the path is a directory; pass a file path or a directory ending in /",
            errno.ENOTDIR: "a parent of the path is a file, not a directory",
        }.get(exc.errno or 0, "")
        name = exc.filename if exc.filename is not None else where
        return LocalFileError(f"{reason}: {name}", hint=hint)
    return OssError(f"unexpected {exc.__class__.__name__} at {where}: {exc}")
