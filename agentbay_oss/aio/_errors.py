"""Mapping of HTTP answers and library / OS exceptions to the typed `OssError`s.

Kept out of `agentbay_oss.errors` so that module (and the sans-I/O `protocol` package that
raises its exceptions) imports no aiohttp.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from ..errors import (
    AuthError,
    ClientError,
    InvalidInputError,
    LocalFileError,
    NotFoundError,
    OssError,
    PreconditionError,
    ServerError,
    TokenExpiredError,
    TransportError,
)
from ..protocol import xml as oxml

_AUTH_HINTS = {
    "InvalidAccessKeyId": "check access_key_id passed to env_init (it is unknown to the server)",
    "SignatureDoesNotMatch": "check access_key_secret (and region for V4 signatures)",
    "SecurityTokenExpired": "the STS token expired: get new STS credentials and call env_init "
    "again, or pass credentials_provider=",
    "InvalidSecurityToken": "the STS token is missing or invalid: pass securityToken= to env_init",
    "RequestTimeTooSkewed": "the system clock is off by more than 15 minutes: fix the clock",
    "AccessDenied": "the credentials lack permission for this bucket or object (a URL may need "
    "to be a presigned URL, or the bucket to be public)",
}


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, where: str, anonymous: bool = False
) -> OssError:
    info = oxml.parse_error(body)
    if info is None and "x-oss-err" in headers:
        info = oxml.parse_error_header(headers["x-oss-err"])
    request_id = (info.request_id if info else "") or headers.get("x-oss-request-id", "")
    code = info.code if info else ""
    detail = f": {info.message}" if info and info.message else ""
    content_type = headers.get("Content-Type", "")
    if info is None and content_type.startswith("text/html"):
        # A proxy, gateway or captive portal answered, not OSS: say so.
        detail = f": the answer is not an OSS error but a {content_type.split(';')[0]} page"
        if 400 <= status < 500:
            return ClientError(
                f"{where} failed{detail}",
                status=status,
                request_id=request_id,
                hint="check the endpoint or URL: something other than OSS (a proxy?) answered",
            )
    msg = f"{where} failed{detail}"
    kw: dict[str, Any] = {"code": code, "request_id": request_id, "status": status}
    if status in (429,) or status >= 500:
        delay = headers.get("x-oss-qos-delay-time")
        seconds = None
        if delay:
            try:
                seconds = max(0.0, float(delay) / 1000.0)
            except ValueError:
                seconds = None
        return ServerError(msg, delay=seconds, hint="the server is busy or failing", **kw)
    if status == 403 or status == 401:
        if code == "SecurityTokenExpired":
            return TokenExpiredError(msg, hint=_AUTH_HINTS[code], **kw)
        hint = _AUTH_HINTS.get(code, "check the credentials or the presigned URL (expired?)")
        if info and "expire" in info.message.lower() and not code.startswith("InvalidAccess"):
            hint = "the request or URL has expired: sign a new one"
        elif anonymous:  # env_init credentials play no part in a plain URL request
            hint = (
                "the URL was refused: it may have expired or been signed for another method, "
                "key or headers; get a fresh presigned URL (or use a public bucket)"
            )
        return AuthError(msg, hint=hint, **kw)
    if status == 404:
        hint = {
            "NoSuchBucket": "check the bucket name and the endpoint's region",
            "NoSuchKey": "check the object key",
            "NoSuchUpload": "the multipart upload was aborted or completed",
        }.get(code, "check the bucket and key")
        return NotFoundError(msg, hint=hint, **kw)
    if status == 412:
        return PreconditionError(
            f"{where} failed: the object changed during the transfer (ETag mismatch)",
            hint="run the transfer again",
            **kw,
        )
    if info is None and status >= 400:
        return ClientError(f"{where} failed with HTTP {status} and no OSS error document", **kw)
    return ClientError(msg, **kw)


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
