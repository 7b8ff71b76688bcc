"""The OSS REST front: parse a request, authenticate, dispatch, answer with OSS headers and XML.

Runs on aiohttp's low-level server (no router: OSS keys are arbitrary, so the
request target is decoded here, strictly). Every failure becomes OSS error XML
(or `x-oss-err` on HEAD); aiohttp's own parser errors are rewritten the same way
by `OssRequestHandler`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..protocol.crc64 import crc64, crc64_combine_all
from ..protocol.keys import OSS_BUCKET_NAME
from . import subresources
from .auth import Authenticator, AuthInput
from .bodies import InjectedReset, receive_body
from .errors import (
    EC_KEY_LEADING_SLASH,
    EC_KEY_TOO_LONG,
    OssError,
    invalid_argument,
    no_such_bucket,
    no_such_key,
    no_such_upload,
)
from .faults import NO_FAULT, Decision, FaultInjector, ServerStats
from .storage import INLINE_MAX, ObjectRecord, PartRecord, Storage, UploadRecord
from .xmlio import (
    MAX_PARTS,
    document,
    el,
    enc,
    error_body,
    iso8601,
    owner_xml,
    parse_complete,
    parse_delete,
)

log = logging.getLogger("agentbay_oss.server")

MAX_OBJECT_SIZE = 5 * 1024**3
MIN_PART_SIZE = 100 * 1024
MAX_XML_BODY = 8 * 1024 * 1024
OWNER = "local-oss-owner"
STORED_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-oss-storage-class",
    "x-oss-object-acl",
)
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_BUCKET_NAME = OSS_BUCKET_NAME  # one rule for PutBucket, `serve` and LocalOssServer
SEND_CHUNK = 1024 * 1024
SMALL_BODY = 64 * 1024

Query = list[tuple[str, str | None]]


# ---------------------------------------------------------------------------- parsing (pure)


def strict_unquote(text: str, plus: bool = False) -> str:
    """Percent-decode, refusing malformed escapes and invalid UTF-8 (InvalidURI)."""
    if plus:
        text = text.replace("+", " ")
    if not text.isascii() and not _is_utf8(text):
        raise OssError(400, "InvalidURI", "Couldn't parse the specified URI: not UTF-8.")
    if "%" not in text:
        return text
    if _BAD_PERCENT.search(text):
        raise OssError(
            400, "InvalidURI", "Couldn't parse the specified URI: malformed percent-encoding."
        )
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise OssError(400, "InvalidURI", "Couldn't parse the specified URI: not UTF-8.") from None


def parse_target(target: str) -> tuple[str, str, Query]:
    """`/bucket/key?query` (path style) -> (bucket, decoded key, decoded query pairs)."""
    path, _, qs = target.partition("?")
    path = path.partition("#")[0]
    if path.startswith(("http://", "https://")):  # absolute-form request target
        path = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
    if not path.startswith("/"):
        raise OssError(400, "InvalidURI", "Couldn't parse the specified URI.")
    bucket_raw, _, key_raw = path[1:].partition("/")
    bucket = strict_unquote(bucket_raw)
    key = strict_unquote(key_raw)
    query: Query = []
    for item in qs.split("&"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        query.append(
            (strict_unquote(name, plus=True), strict_unquote(value, plus=True) if sep else None)
        )
    return bucket, key, query


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """OSS Range semantics: (start, end inclusive), or None for 'ignore, send everything'.

    Raises InvalidRange (416) only where the caller asked for standard behaviour.
    """
    spec = header.strip()
    if not spec.startswith("bytes=") or "," in spec:
        return None
    first, sep, last = spec[6:].strip().partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "" and last == "":
        return None

    def num(digits: str) -> int:  # absurdly long numbers are just "beyond any object"
        return int(digits) if len(digits) <= 19 else 10**19

    if first == "":
        n = num(last)
        if n == 0:
            return None
        return (max(0, size - n), size - 1) if size else None
    start = num(first)
    if not last:
        return start, max(start, size - 1)  # start >= size: unsatisfiable, the caller decides
    end = num(last)
    if start > end:
        return None
    return start, end


# Operations that create or change the object named in the path. OSS refuses names starting
# with a backslash for them; reads and deletes of such a name just find nothing.
KEY_WRITE_OPS = frozenset(
    {
        "PutObject", "CopyObject", "PutObjectAcl", "InitiateMultipartUpload", "UploadPart",
        "UploadPartCopy", "CompleteMultipartUpload",
    }
)  # fmt: skip


def check_key(key: str, op: str) -> None:
    """Refuse an object name OSS refuses (InvalidObjectName)."""
    if len(key.encode()) > 1023:
        raise OssError(
            400, "InvalidObjectName", "The object key is longer than 1023 bytes.",
            extra={"Key": key[:64]}, ec=EC_KEY_TOO_LONG,
        )  # fmt: skip
    if op in KEY_WRITE_OPS and key.startswith("\\"):
        raise OssError(
            400, "InvalidObjectName", "The object name must not start with a backslash.",
            extra={"Key": key[:64]}, ec=EC_KEY_LEADING_SLASH,
        )  # fmt: skip


def _is_utf8(text: str) -> bool:
    """aiohttp decodes header bytes with surrogateescape: invalid UTF-8 shows as surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_time(ts: float) -> str:
    """RFC 1123 date in GMT, as email.utils.formatdate(usegmt=True) writes it, but 5x cheaper."""
    t = time.gmtime(int(ts))
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class RequestIds:
    """x-oss-request-id values: 24 upper-case hex digits, a random prefix and a counter
    (cheaper than a uuid4 per request; unique within a server's life)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex().upper()
        self._count = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFF:012X}"


new_request_id = RequestIds()


def _parse_http_time(text: str) -> float | None:
    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return dt.timestamp()


def _etag_matches(header: str, etag: str) -> bool:
    """If-Match style comparison, with or without quotes (oss2 sends them unquoted)."""
    for item in header.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if item == "*" or item.strip('"') == etag:
            return True
    return False


def check_conditions(h: dict[str, str], rec: ObjectRecord, prefix: str = "") -> int | None:
    """Status to answer instead of the object (412 or 304), or None."""
    mtime = int(rec.mtime)
    if (v := h.get(prefix + "if-match")) is not None and not _etag_matches(v, rec.etag):
        return 412
    if (v := h.get(prefix + "if-unmodified-since")) is not None:
        since = _parse_http_time(v)
        if since is not None and mtime > int(since):
            return 412
    if (v := h.get(prefix + "if-none-match")) is not None and _etag_matches(v, rec.etag):
        return 304
    if (v := h.get(prefix + "if-modified-since")) is not None:
        since = _parse_http_time(v)
        if since is not None and mtime <= int(since):
            return 304
    return None


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _int_param(q: dict[str, str | None], name: str, default: int, low: int, high: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_argument(f"Argument {name} must be an integer.", name, raw[:40]) from None
    if not low <= value <= high:
        raise invalid_argument(f"Argument {name} must be between {low} and {high}.", name, raw[:40])
    return value


def _token_encode(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def _token_decode(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument(
            "The continuation token is invalid.", "continuation-token", token[:40]
        ) from None


# ---------------------------------------------------------------------------- request context


# Operations whose handler reads (or drains) the request body. Any other request that
# declares a body is answered without waiting for it, and its connection is closed after the
# answer: the declared bytes may never come (a client that put Content-Length on a GET), and
# if they do not, the next request on the connection would be read as this one's body, and its
# remainder parsed as garbage, which would earn it a wrong answer. HTTP framing says the body
# is there, so neither reading it first (a hang) nor ignoring it (a desync) is safe; closing is.
TAKES_BODY = frozenset(
    {
        "PutBucket", "DeleteMultipleObjects", "PutObject", "CopyObject", "InitiateMultipartUpload",
        "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
    }
)  # fmt: skip


class Ctx:
    """One request, parsed."""

    __slots__ = (
        "bucket",
        "decision",
        "headers",
        "key",
        "method",
        "op",
        "q",
        "query",
        "request",
        "request_id",
    )

    def __init__(self, request: web.BaseRequest, request_id: str) -> None:
        self.request = request
        self.request_id = request_id
        self.method = request.method.upper()
        self.headers: dict[str, str] = {k.lower(): v for k, v in request.headers.items()}
        self.bucket = ""
        self.key = ""
        self.query: Query = []
        self.q: dict[str, str | None] = {}
        self.op = "Unknown"
        self.decision: Decision = NO_FAULT

    @property
    def expects_continue(self) -> bool:
        return self.headers.get("expect", "").lower() == "100-continue"

    @property
    def has_body(self) -> bool:
        req = self.request
        return bool(req.content_length) or (req.content_length is None and req.body_exists)

    @property
    def body_left_unread(self) -> bool:
        """A declared body this operation does not read (a GET with Content-Length: 9)."""
        return self.op not in TAKES_BODY and self.has_body


def operation(
    method: str, bucket: str, key: str, q: dict[str, str | None], h: dict[str, str]
) -> str:
    """The OSS operation name a request maps to (used for dispatch and counters).

    Sub-resources decide it (see `subresources`); "Unsupported" is answered 501.
    """
    op = subresources.lookup(method, bucket, key, q)
    if op == "ListObjects" and q.get("list-type") == "2":
        return "ListObjectsV2"
    if op == "UploadPart" and "x-oss-copy-source" in h:
        return "UploadPartCopy"
    if op == "PutObject" and "x-oss-copy-source" in h:
        return "CopyObject"
    return op


ANONYMOUS_OPS = frozenset(
    {
        "ListObjects", "ListObjectsV2", "GetBucketInfo", "GetBucketLocation", "GetBucketAcl",
        "ListMultipartUploads", "DeleteMultipleObjects", "PutObject", "CopyObject", "GetObject",
        "HeadObject", "GetObjectMeta", "DeleteObject", "InitiateMultipartUpload", "UploadPart",
        "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
        "GetObjectAcl", "PutObjectAcl",
    }
)  # fmt: skip


# ---------------------------------------------------------------------------- the application


Handler = Callable[[Ctx], Coroutine[Any, Any, web.StreamResponse]]


class OssApp:
    """Request handler for aiohttp's low-level server; state lives in Storage and the knobs."""

    def __init__(
        self,
        storage: Storage,
        auth: Authenticator,
        faults: FaultInjector,
        stats: ServerStats,
        executor: Executor,
        public_buckets: set[str],
        region: str,
    ) -> None:
        self.storage = storage
        self.auth = auth
        self.faults = faults
        self.stats = stats
        self.executor = executor
        self.public_buckets = public_buckets
        self.region = region
        self._upload_locks: dict[str, asyncio.Lock] = {}
        self._handlers: dict[str, Handler] = {
            "ListBuckets": self.list_buckets,
            "PutBucket": self.put_bucket,
            "DeleteBucket": self.delete_bucket,
            "GetBucketInfo": self.get_bucket_info,
            "GetBucketLocation": self.get_bucket_location,
            "GetBucketAcl": self.get_acl,
            "GetObjectAcl": self.get_acl,
            "PutObjectAcl": self.put_object_acl,
            "ListObjects": self.list_objects,
            "ListObjectsV2": self.list_objects,
            "ListMultipartUploads": self.list_uploads,
            "DeleteMultipleObjects": self.delete_multiple,
            "PutObject": self.put_object,
            "CopyObject": self.copy_object,
            "GetObject": self.get_object,
            "HeadObject": self.get_object,
            "GetObjectMeta": self.get_object,
            "DeleteObject": self.delete_object,
            "InitiateMultipartUpload": self.initiate_upload,
            "UploadPart": self.upload_part,
            "UploadPartCopy": self.upload_part,
            "CompleteMultipartUpload": self.complete_upload,
            "AbortMultipartUpload": self.abort_upload,
            "ListParts": self.list_parts,
        }

    # ------------------------------------------------------------------ edge

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        ctx = Ctx(request, new_request_id())
        try:
            resp = await self._handle(ctx)
        except OssError as err:
            resp = await self._error(ctx, err)
        except InjectedReset:
            self.stats.faults["reset"] += 1
            return self._abort(request)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug: still an OSS error, and logged
            log.exception("internal error in %s", ctx.op)
            resp = await self._error(ctx, OssError(500, "InternalError", f"{type(exc).__name__}"))
        if log.isEnabledFor(logging.INFO):
            # Never the query string: it may carry signatures and STS tokens.
            log.info("%s %s /%s/%s -> %s", ctx.op, ctx.method, ctx.bucket, ctx.key, resp.status)
        return resp

    @staticmethod
    def _abort(request: web.BaseRequest) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("fault injection: connection dropped")

    def _common(self, ctx: Ctx, resp: web.StreamResponse) -> None:
        # No Date here: aiohttp adds it (formatted once a second).
        resp.headers["x-oss-request-id"] = ctx.request_id
        resp.headers["Server"] = "AliyunOSS"
        if ctx.body_left_unread:
            resp.force_close()  # see TAKES_BODY

    async def _error(self, ctx: Ctx, err: OssError) -> web.StreamResponse:
        body = error_body(err, ctx.request_id, ctx.request.host or "localhost")
        headers = {"x-oss-ec": err.ec, **err.headers}
        if ctx.method == "HEAD":
            headers["x-oss-err"] = base64.b64encode(body).decode()
            resp = web.Response(status=err.status, headers=headers)
        else:
            resp = web.Response(
                status=err.status, body=body, headers=headers, content_type="application/xml"
            )
        self._common(ctx, resp)
        length = ctx.request.content_length
        unread = not ctx.request.content.is_eof() and ctx.has_body
        # A rejected upload is drained (lingering) so its client can read the error, unless absurd.
        huge = unread and (length if length is not None else 1 << 40) > MAX_OBJECT_SIZE
        if err.status >= 500 or err.code == "IncompleteBody" or huge:
            resp.force_close()
            if huge:
                # Send the answer now, then close: skips aiohttp's lingering drain of the body.
                await resp.prepare(ctx.request)
                await resp.write_eof()
                ctx.request.protocol.force_close()
        return resp

    async def _drain(self, ctx: Ctx) -> None:
        """Read and count a body we will not use (a fault answered before it was read)."""
        while chunk := await ctx.request.content.readany():
            self.stats.bytes_received += len(chunk)

    async def _handle(self, ctx: Ctx) -> web.StreamResponse:
        request = ctx.request
        for name, value in ctx.headers.items():
            if not value.isascii() and not _is_utf8(value):
                bad = name.encode("utf-8", "replace").decode()
                ctx.headers = {}  # nothing undecodable may reach an error body
                raise invalid_argument(
                    f"The value of header {bad!r} is not valid UTF-8.", "header", bad
                )
        ctx.decision = self.faults.decide()
        latency = self.faults.config.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        ctx.bucket, ctx.key, ctx.query = parse_target(request.raw_path)
        ctx.q = dict(ctx.query)
        ctx.op = operation(ctx.method, ctx.bucket, ctx.key, ctx.q, ctx.headers)
        self.stats.requests[ctx.op] += 1
        if ctx.op == subresources.NOT_IMPLEMENTED:  # before any fault, handler or body read
            raise OssError(
                501,
                "NotImplemented",
                subresources.describe(ctx.method, ctx.bucket, ctx.key, ctx.q),
            )
        if not self.faults.applies_to(ctx.op):
            ctx.decision = NO_FAULT
        d = ctx.decision
        self.stats.record(ctx.op, "throttle" if d.throttle else "fail" if d.fail else "")
        if d.throttle or d.fail:
            if ctx.has_body and not ctx.expects_continue:  # such a client sends nothing yet
                await self._drain(ctx)
            if d.throttle:
                self.stats.faults["throttle"] += 1
                delay = str(self.faults.config.throttle_delay_ms)
                raise OssError(
                    503, "ServiceUnavailable", "Please reduce your request rate.",
                    headers={"x-oss-qos-delay-time": delay},
                )  # fmt: skip
            self.stats.faults["fail"] += 1
            raise OssError(
                503, "ServiceUnavailable", "Injected fault: the service is unavailable, retry."
            )
        # Drops for bodies happen mid-body (object/part uploads, GET); all else drops up front.
        if d.reset and ctx.op not in ("GetObject", "PutObject", "UploadPart"):
            raise InjectedReset()
        if ctx.key:
            check_key(ctx.key, ctx.op)
        signed = self.auth.authenticate(
            AuthInput(ctx.method, ctx.bucket, ctx.key, ctx.query, ctx.headers),
            time.time() + self.faults.config.clock_offset_s,
        )
        if not signed and not (ctx.bucket in self.public_buckets and ctx.op in ANONYMOUS_OPS):
            raise OssError(
                403,
                "AccessDenied",
                "You have no right to access this resource anonymously: sign the request.",
            )
        if ctx.op not in ("ListBuckets", "PutBucket") and not self.storage.bucket_exists(
            ctx.bucket
        ):
            raise no_such_bucket(ctx.bucket)
        if ctx.expects_continue and ctx.has_body:
            # Authorised: now invite the body (the low-level server leaves this to us).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await self._handlers[ctx.op](ctx)

    def _respond(
        self,
        ctx: Ctx,
        status: int = 200,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        resp = web.Response(status=status, body=body, headers=headers)
        if body is not None:
            resp.content_type = "application/xml"
        self._common(ctx, resp)
        return resp

    def _crc_header(self, ctx: Ctx, crc: int) -> str:
        if ctx.decision.bad_crc:
            self.stats.faults["bad_crc"] += 1
            return str((crc + 1) % 2**64)
        return str(crc)

    def _remove_later(self, blobs: list[str]) -> None:
        if blobs:
            asyncio.get_running_loop().run_in_executor(
                self.executor, self.storage.remove_blobs, blobs
            )

    # ------------------------------------------------------------------ buckets

    async def list_buckets(self, ctx: Ctx) -> web.StreamResponse:
        if not self._signed(ctx):
            raise OssError(403, "AccessDenied", "Anonymous access to the bucket list is denied.")
        prefix = ctx.q.get("prefix") or ""
        items = [
            "<Bucket>" + el("CreationDate", iso8601(created)) + el("ExtranetEndpoint", ctx.request.host)
            + el("IntranetEndpoint", ctx.request.host) + el("Location", f"oss-{self.region}")
            + el("Name", name) + el("Region", self.region) + el("StorageClass", "Standard") + "</Bucket>"
            for name, created in self.storage.list_buckets(prefix)
        ]  # fmt: skip
        body = document(
            "ListAllMyBucketsResult",
            [
                owner_xml(OWNER),
                el("Prefix", prefix),
                el("IsTruncated", "false"),
                "<Buckets>",
                *items,
                "</Buckets>",
            ],
        )
        return self._respond(ctx, body=body)

    def _signed(self, ctx: Ctx) -> bool:
        return "authorization" in ctx.headers or any(
            k in ctx.q for k in ("Signature", "x-oss-signature", "x-oss-credential")
        )

    async def put_bucket(self, ctx: Ctx) -> web.StreamResponse:
        if not self._signed(ctx):
            raise OssError(403, "AccessDenied", "Anonymous requests cannot create buckets.")
        if not _BUCKET_NAME.match(ctx.bucket):
            raise OssError(
                400, "InvalidBucketName",
                "The bucket name must be 3-63 characters of lowercase letters, digits and hyphens, "
                "starting and ending with a letter or digit.", extra={"BucketName": ctx.bucket},
            )  # fmt: skip
        if ctx.has_body:
            await self._drain(ctx)  # CreateBucketConfiguration: storage class etc. are ignored
        self.storage.create_bucket(ctx.bucket)
        return self._respond(ctx, headers={"Location": f"/{ctx.bucket}"})

    async def delete_bucket(self, ctx: Ctx) -> web.StreamResponse:
        if not self._signed(ctx):
            raise OssError(403, "AccessDenied", "Anonymous requests cannot delete buckets.")
        if not self.storage.bucket_is_empty(ctx.bucket):
            raise OssError(
                409, "BucketNotEmpty", "The bucket you tried to delete is not empty (objects or multipart uploads).",
                extra={"BucketName": ctx.bucket},
            )  # fmt: skip
        self.storage.delete_bucket(ctx.bucket)
        return self._respond(ctx, status=204)

    async def get_bucket_info(self, ctx: Ctx) -> web.StreamResponse:
        if ctx.method == "HEAD":
            return self._respond(ctx)
        acl = "public-read-write" if ctx.bucket in self.public_buckets else "private"
        created = next(
            (c for n, c in self.storage.list_buckets(ctx.bucket) if n == ctx.bucket), 0.0
        )
        body = document(
            "BucketInfo",
            [
                "<Bucket>", el("CreationDate", iso8601(created)), el("ExtranetEndpoint", ctx.request.host),
                el("IntranetEndpoint", ctx.request.host), el("Location", f"oss-{self.region}"),
                el("Name", ctx.bucket), el("Region", self.region), el("StorageClass", "Standard"),
                owner_xml(OWNER), f"<AccessControlList>{el('Grant', acl)}</AccessControlList>", "</Bucket>",
            ],
        )  # fmt: skip
        return self._respond(ctx, body=body)

    async def get_bucket_location(self, ctx: Ctx) -> web.StreamResponse:
        return self._respond(ctx, body=document("LocationConstraint", [f"oss-{self.region}"]))

    async def get_acl(self, ctx: Ctx) -> web.StreamResponse:
        if ctx.key and self.storage.get_object(ctx.bucket, ctx.key, data=False) is None:
            raise no_such_key(ctx.key)
        acl = "public-read-write" if ctx.bucket in self.public_buckets else "private"
        if ctx.key:
            acl = "default"
        body = document(
            "AccessControlPolicy",
            [owner_xml(OWNER), f"<AccessControlList>{el('Grant', acl)}</AccessControlList>"],
        )
        return self._respond(ctx, body=body)

    async def put_object_acl(self, ctx: Ctx) -> web.StreamResponse:
        if self.storage.get_object(ctx.bucket, ctx.key, data=False) is None:
            raise no_such_key(ctx.key)
        return self._respond(ctx)

    # ------------------------------------------------------------------ listings

    async def list_objects(self, ctx: Ctx) -> web.StreamResponse:
        q = ctx.q
        v2 = ctx.op == "ListObjectsV2"
        url = q.get("encoding-type") == "url"
        if q.get("encoding-type") not in (None, "", "url"):
            raise invalid_argument(
                "encoding-type must be url.", "encoding-type", q.get("encoding-type") or ""
            )
        prefix, delimiter = q.get("prefix") or "", q.get("delimiter") or ""
        max_keys = _int_param(q, "max-keys", 100, 1, 1000)
        if v2:
            token, start_after = q.get("continuation-token") or "", q.get("start-after") or ""
            after = _token_decode(token) if token else start_after
        else:
            after = q.get("marker") or ""
        listing = self.storage.list_objects(ctx.bucket, prefix, after, delimiter, max_keys)
        fetch_owner = (not v2) or (q.get("fetch-owner") or "").lower() == "true"
        parts = [el("Name", ctx.bucket), el("Prefix", enc(prefix, url))]
        if v2:
            if token:
                parts.append(el("ContinuationToken", token))
            if start_after:
                parts.append(el("StartAfter", enc(start_after, url)))
        else:
            parts.append(el("Marker", enc(after, url)))
        parts += [el("MaxKeys", max_keys), el("Delimiter", enc(delimiter, url))]
        parts.append(el("IsTruncated", "true" if listing.truncated else "false"))
        if listing.truncated:
            if v2:
                parts.append(el("NextContinuationToken", _token_encode(listing.next_marker)))
            else:
                parts.append(el("NextMarker", enc(listing.next_marker, url)))
        if url:
            parts.append(el("EncodingType", "url"))
        if v2:
            parts.append(el("KeyCount", len(listing.contents) + len(listing.prefixes)))
        for rec in listing.contents:
            parts.append(
                "<Contents>" + el("Key", enc(rec.key, url)) + el("LastModified", iso8601(rec.mtime))
                + el("ETag", _quoted(rec.etag)) + el("Type", rec.otype) + el("Size", rec.size)
                + el("StorageClass", rec.headers.get("x-oss-storage-class", "Standard"))
                + (owner_xml(OWNER) if fetch_owner else "") + "</Contents>"
            )  # fmt: skip
        for cp in listing.prefixes:
            parts.append("<CommonPrefixes>" + el("Prefix", enc(cp, url)) + "</CommonPrefixes>")
        return self._respond(ctx, body=document("ListBucketResult", parts))

    async def list_uploads(self, ctx: Ctx) -> web.StreamResponse:
        q = ctx.q
        url = q.get("encoding-type") == "url"
        prefix, delimiter = q.get("prefix") or "", q.get("delimiter") or ""
        key_marker, id_marker = q.get("key-marker") or "", q.get("upload-id-marker") or ""
        max_uploads = _int_param(q, "max-uploads", 1000, 1, 1000)
        uploads: list[UploadRecord] = []
        prefixes: list[str] = []
        truncated = False
        next_key = next_id = ""
        for up in self.storage.list_uploads(ctx.bucket):
            if not up.key.startswith(prefix):
                continue
            if key_marker and (
                up.key < key_marker
                or (up.key == key_marker and (not id_marker or up.upload_id <= id_marker))
            ):
                continue
            cp = ""
            if delimiter and (cut := up.key.find(delimiter, len(prefix))) >= 0:
                cp = up.key[: cut + len(delimiter)]
                if (prefixes and prefixes[-1] == cp) or cp == key_marker:
                    continue
            if len(uploads) + len(prefixes) >= max_uploads:
                truncated = True
                break
            if cp:
                prefixes.append(cp)
                next_key, next_id = cp, ""
            else:
                uploads.append(up)
                next_key, next_id = up.key, up.upload_id
        parts = [
            el("Bucket", ctx.bucket), el("KeyMarker", enc(key_marker, url)), el("UploadIdMarker", id_marker),
            el("NextKeyMarker", enc(next_key if truncated else "", url)),
            el("NextUploadIdMarker", next_id if truncated else ""), el("Delimiter", enc(delimiter, url)),
            el("Prefix", enc(prefix, url)), el("MaxUploads", max_uploads),
            el("IsTruncated", "true" if truncated else "false"),
        ]  # fmt: skip
        if url:
            parts.append(el("EncodingType", "url"))
        for up in uploads:
            parts.append(
                "<Upload>" + el("Key", enc(up.key, url)) + el("UploadId", up.upload_id)
                + el("StorageClass", "Standard") + el("Initiated", iso8601(up.initiated)) + "</Upload>"
            )  # fmt: skip
        for cp in prefixes:
            parts.append("<CommonPrefixes>" + el("Prefix", enc(cp, url)) + "</CommonPrefixes>")
        return self._respond(ctx, body=document("ListMultipartUploadsResult", parts))

    # ------------------------------------------------------------------ small XML bodies

    async def _read_xml_body(self, ctx: Ctx) -> bytes:
        length = ctx.request.content_length
        if length is not None and length > MAX_XML_BODY:
            raise OssError(
                400, "EntityTooLarge", f"An XML request body may be at most {MAX_XML_BODY} bytes."
            )
        chunks: list[bytes] = []
        total = 0
        while chunk := await ctx.request.content.readany():
            total += len(chunk)
            self.stats.bytes_received += len(chunk)
            if total > MAX_XML_BODY:
                raise OssError(
                    400,
                    "EntityTooLarge",
                    f"An XML request body may be at most {MAX_XML_BODY} bytes.",
                )
            chunks.append(chunk)
        body = b"".join(chunks)
        self._check_md5(ctx, hashlib.md5(body).digest())
        return body

    def _expected_md5(self, ctx: Ctx) -> bytes | None:
        value = ctx.headers.get("content-md5")
        if value is None:
            return None
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 16:
            raise OssError(
                400,
                "InvalidDigest",
                "The Content-MD5 you specified is not valid base64 of 16 bytes.",
            )
        return digest

    def _check_md5(self, ctx: Ctx, actual: bytes) -> None:
        expected = self._expected_md5(ctx)
        if expected is not None and expected != actual:
            raise OssError(
                400, "InvalidDigest", "The Content-MD5 you specified did not match what we received.",
                extra={"ContentMD5": ctx.headers.get("content-md5", ""),
                       "CalculatedMD5": base64.b64encode(actual).decode()},
            )  # fmt: skip

    async def delete_multiple(self, ctx: Ctx) -> web.StreamResponse:
        url = ctx.q.get("encoding-type") == "url"
        keys, quiet = parse_delete(await self._read_xml_body(ctx))
        parts: list[str] = []
        for key in keys:
            self._remove_later(self.storage.delete_object(ctx.bucket, key))
            if not quiet:
                parts.append(f"<Deleted>{el('Key', enc(key, url))}</Deleted>")
        if url:
            parts.append(el("EncodingType", "url"))
        return self._respond(ctx, body=document("DeleteResult", parts))

    # ------------------------------------------------------------------ objects

    def _object_headers(self, ctx: Ctx) -> tuple[str, dict[str, str]]:
        h = ctx.headers
        stored = {k: v for k, v in h.items() if k.startswith("x-oss-meta-") or k in STORED_HEADERS}
        return h.get("content-type") or "application/octet-stream", stored

    def _forbid_overwrite(self, ctx: Ctx, bucket: str, key: str) -> None:
        if (
            ctx.headers.get("x-oss-forbid-overwrite") or ""
        ).lower() == "true" and self.storage.get_object(bucket, key, data=False):
            raise OssError(
                409, "FileAlreadyExists", "The object exists and x-oss-forbid-overwrite is true."
            )

    def _body_limit(self, ctx: Ctx) -> int | None:
        length = ctx.request.content_length
        if length is not None and length > MAX_OBJECT_SIZE:
            raise OssError(
                400,
                "EntityTooLarge",
                f"Your proposed upload exceeds the maximum allowed size ({MAX_OBJECT_SIZE} bytes).",
            )
        return length

    def _reset_at(self, ctx: Ctx, expected: int | None) -> int | None:
        """Where an injected reset drops the body (None: no reset for this request)."""
        if not ctx.decision.reset:
            return None
        if expected == 0:
            raise InjectedReset()
        return max(1, int((expected or 1 << 20) * ctx.decision.reset_fraction))

    async def _receive_inline(self, ctx: Ctx, expected: int) -> tuple[bytes, bytes, int]:
        """A small body (Content-Length <= INLINE_MAX) into memory: (data, md5, crc).

        Hashing a few KiB on the loop is cheaper than any thread hop.
        """
        self._expected_md5(ctx)  # reject a malformed header before reading the body
        reset_at = self._reset_at(ctx, expected)
        content = ctx.request.content
        chunks: list[bytes] = []
        size = 0
        while chunk := await content.readany():
            size += len(chunk)
            self.stats.bytes_received += len(chunk)
            if reset_at is not None and size >= reset_at:
                raise InjectedReset()
            chunks.append(chunk)
        if size != expected:
            raise OssError(
                400,
                "IncompleteBody",
                f"The request body has {size} bytes; Content-Length said {expected}.",
            )
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        md5 = hashlib.md5(data).digest()
        self._check_md5(ctx, md5)
        return data, md5, crc64(data)

    async def _receive(self, ctx: Ctx) -> tuple[str, int, bytes, int]:
        """Stream the body into a new blob: (blob name, size, md5, crc)."""
        expected = self._body_limit(ctx)
        self._expected_md5(ctx)  # reject a malformed header before reading the body
        reset_at = self._reset_at(ctx, expected)
        got = await receive_body(
            ctx.request.content, self.storage.new_temp(), self.executor, self.stats,
            limit=MAX_OBJECT_SIZE, expected=expected, reset_at=reset_at,
        )  # fmt: skip
        try:
            self._check_md5(ctx, got.md5)
        except OssError:
            got.temp.unlink(missing_ok=True)
            raise
        return self.storage.commit_blob(got.temp), got.size, got.md5, got.crc

    async def put_object(self, ctx: Ctx) -> web.StreamResponse:
        self._forbid_overwrite(ctx, ctx.bucket, ctx.key)
        content_type, stored = self._object_headers(ctx)
        expected = self._body_limit(ctx)
        data: bytes | None = None
        segments: list[tuple[str, int]] = []
        if expected is not None and expected <= INLINE_MAX:
            data, md5, crc = await self._receive_inline(ctx, expected)
            size = len(data)
        else:
            blob, size, md5, crc = await self._receive(ctx)
            segments.append((blob, size))
        etag = md5.hex().upper()
        rec = ObjectRecord(
            ctx.bucket, ctx.key, size, etag, crc, time.time(), content_type, stored, "Normal",
            segments, data,
        )  # fmt: skip
        self._remove_later(self.storage.put_object(rec))
        headers = {
            "ETag": _quoted(etag),
            "Content-MD5": base64.b64encode(md5).decode(),
            "x-oss-hash-crc64ecma": self._crc_header(ctx, crc),
        }
        return self._respond(ctx, headers=headers)

    def _copy_source(self, ctx: Ctx) -> ObjectRecord:
        raw = ctx.headers["x-oss-copy-source"].partition("?")[0]
        src_bucket, _, src_key = raw.lstrip("/").partition("/")
        src_bucket, src_key = strict_unquote(src_bucket), strict_unquote(src_key)
        if not src_bucket or not src_key:
            raise invalid_argument(
                "x-oss-copy-source must be /bucket/key.", "x-oss-copy-source", raw[:80]
            )
        if not self._signed(ctx) and src_bucket not in self.public_buckets:
            raise OssError(
                403, "AccessDenied", "Anonymous requests cannot read the copy source bucket."
            )
        if not self.storage.bucket_exists(src_bucket):
            raise no_such_bucket(src_bucket)
        src = self.storage.get_object(src_bucket, src_key)
        if src is None:
            raise no_such_key(src_key)
        status = check_conditions(ctx.headers, src, "x-oss-copy-source-")
        if status is not None:
            raise OssError(
                412 if status == 412 else 304,
                "PreconditionFailed",
                "At least one of the copy-source preconditions you specified did not hold.",
            )
        return src

    async def copy_object(self, ctx: Ctx) -> web.StreamResponse:
        if ctx.has_body:
            await self._drain(ctx)
        src = self._copy_source(ctx)
        self._forbid_overwrite(ctx, ctx.bucket, ctx.key)
        directive = (ctx.headers.get("x-oss-metadata-directive") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise invalid_argument(
                "x-oss-metadata-directive must be COPY or REPLACE.",
                "x-oss-metadata-directive",
                directive,
            )
        content_type, stored = (
            (src.content_type, src.headers) if directive == "COPY" else self._object_headers(ctx)
        )
        segments = [(self.storage.link_blob(b), s) for b, s in src.segments]
        now = time.time()
        rec = ObjectRecord(
            ctx.bucket, ctx.key, src.size, src.etag, src.crc, now, content_type, stored, src.otype,
            segments, src.data,
        )  # fmt: skip
        self._remove_later(self.storage.put_object(rec))
        body = document(
            "CopyObjectResult", [el("ETag", _quoted(rec.etag)), el("LastModified", iso8601(now))]
        )
        return self._respond(
            ctx, body=body, headers={"x-oss-hash-crc64ecma": self._crc_header(ctx, rec.crc)}
        )

    async def delete_object(self, ctx: Ctx) -> web.StreamResponse:
        self._remove_later(self.storage.delete_object(ctx.bucket, ctx.key))
        return self._respond(ctx, status=204)

    async def get_object(self, ctx: Ctx) -> web.StreamResponse:
        rec = self.storage.get_object(ctx.bucket, ctx.key, data=ctx.method == "GET")
        if rec is None:
            raise no_such_key(ctx.key)
        headers = {
            "ETag": _quoted(rec.etag),
            "Last-Modified": http_time(rec.mtime),
            "x-oss-object-type": rec.otype,
            "x-oss-storage-class": rec.headers.get("x-oss-storage-class", "Standard"),
            "x-oss-hash-crc64ecma": self._crc_header(ctx, rec.crc),
        }
        status = check_conditions(ctx.headers, rec)
        if status == 412:
            raise OssError(
                412,
                "PreconditionFailed",
                "At least one of the preconditions you specified did not hold.",
                headers=headers,
            )
        if status == 304:
            not_modified = web.Response(status=304, headers=headers)
            self._common(ctx, not_modified)
            return not_modified
        for name, value in rec.headers.items():
            if name.startswith("x-oss-meta-") or name in STORED_HEADERS[:5]:
                headers[name] = value
        headers["Content-Type"] = rec.content_type
        headers["Accept-Ranges"] = "bytes"
        for param, header in RESPONSE_OVERRIDES.items():
            if ctx.q.get(param):
                headers[header] = ctx.q[param] or ""
        start, end, status = 0, rec.size - 1, 200
        if ctx.method == "GET" and "range" in ctx.headers:
            wanted = parse_range(ctx.headers["range"], rec.size)
            standard = (ctx.headers.get("x-oss-range-behavior") or "").lower() == "standard"
            if wanted is not None and wanted[0] >= rec.size:
                if standard:
                    raise OssError(
                        416, "InvalidRange", "The requested range cannot be satisfied.",
                        headers={"Content-Range": f"bytes */{rec.size}"},
                    )  # fmt: skip
            elif wanted is not None and (wanted[1] < rec.size or standard):
                start, end, status = wanted[0], min(wanted[1], rec.size - 1), 206
                headers["Content-Range"] = f"bytes {start}-{end}/{rec.size}"
        length = end - start + 1
        d = ctx.decision
        if rec.data is not None and ctx.method == "GET" and not (d.reset or d.corrupt):
            # Headers and body in one send (a StreamResponse sends its headers on their own).
            whole = start == 0 and length == rec.size
            body = rec.data if whole else rec.data[start : start + length]
            small = web.Response(status=status, body=body, headers=headers)
            self._common(ctx, small)
            self.stats.bytes_sent += length
            return small
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = length
        self._common(ctx, resp)
        if ctx.decision.reset and length == 0:
            raise InjectedReset()
        if ctx.method == "HEAD" or length == 0:
            await resp.prepare(ctx.request)
            await resp.write_eof()
            return resp
        return await self._send(ctx, resp, rec, start, length)

    async def _send(
        self, ctx: Ctx, resp: web.StreamResponse, rec: ObjectRecord, start: int, length: int
    ) -> web.StreamResponse:
        """Stream [start, start+length) of the object: sendfile per segment, or a fault path."""
        if rec.data is not None:  # an inline object, with a fault to inject
            await resp.prepare(ctx.request)
            await self._send_faulty(ctx, resp, [(rec.data, start, length)], length)
            await resp.write_eof()
            return resp
        plan: list[tuple[BinaryIO, int, int]] = []  # (file, offset, count)
        files: list[BinaryIO] = []
        try:
            pos = 0
            for blob, size in rec.segments:
                lo, hi = max(start, pos), min(start + length, pos + size)
                if lo < hi:
                    # Opening is a metadata operation (microseconds); all reads go via sendfile.
                    fobj: BinaryIO = open(self.storage.blob_path(blob), "rb")  # noqa: SIM115, ASYNC230
                    files.append(fobj)
                    plan.append((fobj, lo - pos, hi - lo))
                pos += size
            await resp.prepare(ctx.request)
            d = ctx.decision
            if d.reset or d.corrupt:
                await self._send_faulty(ctx, resp, plan, length)
            elif length <= SMALL_BODY:
                # Small objects: one pread from the page cache beats a sendfile round.
                for fobj, offset, count in plan:
                    await resp.write(os.pread(fobj.fileno(), count, offset))
                self.stats.bytes_sent += length
            else:
                loop = asyncio.get_running_loop()
                for fobj, offset, count in plan:
                    transport = ctx.request.transport
                    if transport is None or transport.is_closing():
                        raise ConnectionResetError("client went away")
                    await loop.sendfile(transport, fobj, offset, count)
                self.stats.bytes_sent += length
            await resp.write_eof()
            return resp
        finally:
            for fobj in files:
                fobj.close()

    async def _send_faulty(
        self,
        ctx: Ctx,
        resp: web.StreamResponse,
        plan: Sequence[tuple[BinaryIO | bytes, int, int]],  # (file or inline bytes, offset, count)
        length: int,
    ) -> None:
        d = ctx.decision
        stop_at = int(length * d.reset_fraction) if d.reset else length
        flip_at = min(length - 1, int(length * d.corrupt_fraction)) if d.corrupt else -1
        if d.corrupt:
            self.stats.faults["corrupt"] += 1
        loop = asyncio.get_running_loop()
        sent = 0
        for f, offset, count in plan:
            done = 0
            while done < count:
                n = min(SEND_CHUNK, count - done)
                if isinstance(f, bytes):
                    chunk = f[offset + done : offset + done + n]
                else:
                    chunk = await loop.run_in_executor(
                        self.executor, os.pread, f.fileno(), n, offset + done
                    )
                if 0 <= flip_at - sent < len(chunk):
                    buf = bytearray(chunk)
                    buf[flip_at - sent] ^= 0xFF
                    chunk = bytes(buf)
                if sent + len(chunk) >= stop_at and d.reset:
                    await resp.write(chunk[: stop_at - sent])
                    raise InjectedReset()
                await resp.write(chunk)
                sent += len(chunk)
                done += len(chunk)

    # ------------------------------------------------------------------ multipart

    def _upload(self, ctx: Ctx) -> UploadRecord:
        upload_id = ctx.q.get("uploadId") or ""
        up = self.storage.get_upload(upload_id)
        if up is None or up.bucket != ctx.bucket or up.key != ctx.key:
            raise no_such_upload(upload_id)
        return up

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._upload_locks.get(upload_id)
        if lock is None:
            lock = self._upload_locks[upload_id] = asyncio.Lock()
        return lock

    async def initiate_upload(self, ctx: Ctx) -> web.StreamResponse:
        if ctx.has_body:
            await self._drain(ctx)
        self._forbid_overwrite(ctx, ctx.bucket, ctx.key)
        content_type, stored = self._object_headers(ctx)
        stored["content-type"] = content_type
        up = self.storage.create_upload(ctx.bucket, ctx.key, stored)
        url = ctx.q.get("encoding-type") == "url"
        parts = [
            el("Bucket", ctx.bucket),
            el("Key", enc(ctx.key, url)),
            el("UploadId", up.upload_id),
        ]
        if url:
            parts.append(el("EncodingType", "url"))
        return self._respond(ctx, body=document("InitiateMultipartUploadResult", parts))

    def _part_number(self, ctx: Ctx) -> int:
        raw = ctx.q.get("partNumber") or ""
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_PARTS:
            raise invalid_argument(
                f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive.",
                "partNumber",
                raw[:20],
            )
        return number

    async def upload_part(self, ctx: Ctx) -> web.StreamResponse:
        number = self._part_number(ctx)
        up = self._upload(ctx)
        if ctx.op == "UploadPartCopy":
            blob, size, md5, crc = await self._copy_part_data(ctx)
        else:
            blob, size, md5, crc = await self._receive(ctx)
        etag = md5.hex().upper()
        part = PartRecord(up.upload_id, number, blob, size, etag, crc, time.time())
        garbage = self.storage.put_part(part)
        self._remove_later(garbage)
        if blob in garbage:
            raise no_such_upload(up.upload_id)
        headers = {"ETag": _quoted(etag), "x-oss-hash-crc64ecma": self._crc_header(ctx, crc)}
        if ctx.op == "UploadPartCopy":
            body = document(
                "CopyPartResult",
                [el("LastModified", iso8601(part.mtime)), el("ETag", _quoted(etag))],
            )
            return self._respond(ctx, body=body, headers=headers)
        headers["Content-MD5"] = base64.b64encode(md5).decode()
        return self._respond(ctx, headers=headers)

    async def _copy_part_data(self, ctx: Ctx) -> tuple[str, int, bytes, int]:
        if ctx.has_body:
            await self._drain(ctx)
        src = self._copy_source(ctx)
        start, end = 0, src.size - 1
        if "x-oss-copy-source-range" in ctx.headers:
            wanted = parse_range(ctx.headers["x-oss-copy-source-range"], src.size)
            if wanted is not None and wanted[0] < src.size:
                start, end = wanted[0], min(wanted[1], src.size - 1)
        temp = self.storage.new_temp()
        paths: list[tuple[Path | bytes, int]] = [
            (self.storage.blob_path(b), s) for b, s in src.segments
        ]
        if src.data is not None:
            paths = [(src.data, src.size)]
        md5, crc = await asyncio.get_running_loop().run_in_executor(
            self.executor, _copy_range, paths, start, end - start + 1, str(temp)
        )
        return self.storage.commit_blob(temp), end - start + 1, md5, crc

    async def complete_upload(self, ctx: Ctx) -> web.StreamResponse:
        up = self._upload(ctx)
        complete_all = (ctx.headers.get("x-oss-complete-all") or "").lower() == "yes"
        body = await self._read_xml_body(ctx)
        async with self._lock(up.upload_id):
            up = self._upload(ctx)  # still there after waiting for a concurrent Complete?
            uploaded = {p.number: p for p in self.storage.list_parts(up.upload_id)}
            if complete_all:
                if body.strip():
                    raise invalid_argument(
                        "With x-oss-complete-all: yes the body must be empty.",
                        "x-oss-complete-all",
                        "yes",
                    )
                chosen = [uploaded[n] for n in sorted(uploaded)]
            else:
                chosen = []
                last = 0
                for item in parse_complete(body):
                    if item.number <= last:
                        raise OssError(
                            400,
                            "InvalidPartOrder",
                            "The list of parts was not in ascending order. Parts must be ordered by part number.",
                        )
                    last = item.number
                    part = uploaded.get(item.number)
                    if part is None or item.etag.strip('"').upper() != part.etag:
                        raise OssError(
                            400, "InvalidPart",
                            "One or more of the specified parts could not be found or the specified entity tag "
                            "might not have matched the part's entity tag.",
                            extra={"PartNumber": str(item.number), "ETag": item.etag[:40]},
                        )  # fmt: skip
                    chosen.append(part)
            for part in chosen[:-1]:
                if part.size < MIN_PART_SIZE:
                    raise OssError(
                        400, "EntityTooSmall",
                        f"Your proposed upload is smaller than the minimum allowed size: part {part.number} "
                        f"has {part.size} bytes, every part but the last needs {MIN_PART_SIZE}.",
                        extra={"PartNumber": str(part.number)},
                    )  # fmt: skip
            if not chosen:
                raise invalid_argument(
                    "The upload has no parts to complete.", "x-oss-complete-all", "yes"
                )
            digest = (
                hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen)).hexdigest().upper()
            )
            etag = f"{digest}-{len(chosen)}"
            crc = crc64_combine_all((p.crc, p.size) for p in chosen)
            headers = dict(up.headers)
            content_type = headers.pop("content-type", "application/octet-stream")
            rec = ObjectRecord(
                ctx.bucket, ctx.key, sum(p.size for p in chosen), etag, crc, time.time(), content_type, headers,
                "Multipart", [(p.blob, p.size) for p in chosen],
            )  # fmt: skip
            self._remove_later(
                self.storage.finish_upload(up.upload_id, rec, {p.number for p in chosen})
            )
        self._upload_locks.pop(up.upload_id, None)
        url = ctx.q.get("encoding-type") == "url"
        host = ctx.request.host
        parts = [
            el("Location", f"http://{host}/{ctx.bucket}/{enc(ctx.key, True)}"), el("Bucket", ctx.bucket),
            el("Key", enc(ctx.key, url)), el("ETag", _quoted(etag)),
        ]  # fmt: skip
        if url:
            parts.append(el("EncodingType", "url"))
        return self._respond(
            ctx,
            body=document("CompleteMultipartUploadResult", parts),
            headers={"ETag": _quoted(etag), "x-oss-hash-crc64ecma": self._crc_header(ctx, crc)},
        )

    async def abort_upload(self, ctx: Ctx) -> web.StreamResponse:
        up = self._upload(ctx)
        async with self._lock(up.upload_id):
            up = self._upload(ctx)
            self._remove_later(self.storage.finish_upload(up.upload_id, None, set()))
        self._upload_locks.pop(up.upload_id, None)
        return self._respond(ctx, status=204)

    async def list_parts(self, ctx: Ctx) -> web.StreamResponse:
        up = self._upload(ctx)
        url = ctx.q.get("encoding-type") == "url"
        max_parts = _int_param(ctx.q, "max-parts", 1000, 1, 1000)
        marker = _int_param(ctx.q, "part-number-marker", 0, 0, MAX_PARTS)
        parts_all = self.storage.list_parts(up.upload_id, marker, max_parts + 1)
        truncated = len(parts_all) > max_parts
        shown = parts_all[:max_parts]
        next_marker = shown[-1].number if shown else marker
        items = [
            el("Bucket", ctx.bucket), el("Key", enc(ctx.key, url)), el("UploadId", up.upload_id),
            el("StorageClass", "Standard"), el("PartNumberMarker", marker), el("NextPartNumberMarker", next_marker),
            el("MaxParts", max_parts), el("IsTruncated", "true" if truncated else "false"),
        ]  # fmt: skip
        if url:
            items.append(el("EncodingType", "url"))
        for p in shown:
            items.append(
                "<Part>" + el("PartNumber", p.number) + el("LastModified", iso8601(p.mtime))
                + el("ETag", _quoted(p.etag)) + el("HashCrc64ecma", p.crc) + el("Size", p.size) + "</Part>"
            )  # fmt: skip
        return self._respond(ctx, body=document("ListPartsResult", items))


def _copy_range(
    segments: list[tuple[Path | bytes, int]], start: int, length: int, dest: str
) -> tuple[bytes, int]:
    """Copy a byte range spanning segment files (or inline bytes) into `dest`, hashing on the
    way (worker thread)."""
    md5 = hashlib.md5()
    crc = 0
    with open(dest, "wb") as out:
        pos = 0
        for path, size in segments:
            lo, hi = max(start, pos), min(start + length, pos + size)
            if lo < hi and isinstance(path, bytes):
                chunk = path[lo - pos : hi - pos]
                md5.update(chunk)
                crc = crc64(chunk, crc)
                out.write(chunk)
            elif lo < hi:
                with open(path, "rb") as f:
                    f.seek(lo - pos)
                    left = hi - lo
                    while left:
                        chunk = f.read(min(SEND_CHUNK, left))
                        if not chunk:
                            raise OSError("blob shorter than recorded")
                        md5.update(chunk)
                        crc = crc64(chunk, crc)
                        out.write(chunk)
                        left -= len(chunk)
            pos += size
    return md5.digest(), crc


# ---------------------------------------------------------------------------- aiohttp glue


class OssRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own parse errors with OSS error XML."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):  # the client left (or a fault dropped it): no answer
            log.debug("connection dropped: %s", exc)
            resp = web.Response(status=499)
            resp.force_close()
            return resp
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        if status == 500:
            log.error("unhandled server error", exc_info=exc)
        code = {400: "InvalidRequest", 413: "EntityTooLarge", 431: "RequestHeaderTooLarge"}.get(
            status, "InternalError"
        )
        if status >= 500:
            err = OssError(status, code, "The server failed on this request; see its log.")
        else:
            text = (message or "").splitlines()[0][:200] if message else "bad request"
            err = OssError(status, code, f"The HTTP request could not be parsed: {text}")
        rid = new_request_id()
        body = error_body(err, rid, "localhost")
        resp = web.Response(status=status, body=body, content_type="application/xml")
        resp.headers["x-oss-request-id"] = rid
        resp.headers["x-oss-ec"] = err.ec
        resp.headers["Server"] = "AliyunOSS"
        resp.force_close()
        return resp


class OssHttpServer(web.Server):
    """Low-level aiohttp server whose connections use OssRequestHandler."""

    def __call__(self) -> RequestHandler:
        return OssRequestHandler(self, loop=self._loop, **self._kwargs)
