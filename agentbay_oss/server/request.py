"""What a request says, parsed strictly: its target, its headers, and `Ctx`, the parsed request.

Pure functions (no storage, no sockets) but for `Ctx`, which wraps aiohttp's request.
OSS keys are arbitrary, so the request target is decoded here rather than by a router.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import time
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import unquote_to_bytes

from aiohttp import web

from .errors import OssError, invalid_argument
from .faults import NO_FAULT, Decision
from .routing import TAKES_BODY
from .storage import ObjectRecord

Query = list[tuple[str, str | None]]

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


# ---------------------------------------------------------------------------- the target


def strict_unquote(text: str, plus: bool = False) -> str:
    """Percent-decode, refusing malformed escapes and invalid UTF-8 (InvalidURI)."""
    if plus:
        text = text.replace("+", " ")
    if not text.isascii() and not is_utf8(text):
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


def parse_target(target: str, host_bucket: str | None = None) -> tuple[str, str, Query]:
    """`/bucket/key?query` (path style), or `/key?query` when the Host named the bucket
    (virtual-hosted style) -> (bucket, decoded key, decoded query pairs)."""
    path, _, qs = target.partition("?")
    path = path.partition("#")[0]
    if path.startswith(("http://", "https://")):  # absolute-form request target
        path = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
    if not path.startswith("/"):
        raise OssError(400, "InvalidURI", "Couldn't parse the specified URI.")
    if host_bucket is None:
        bucket_raw, _, key_raw = path[1:].partition("/")
        bucket = strict_unquote(bucket_raw)
    else:
        bucket, key_raw = host_bucket, path[1:]
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


def bucket_in_host(host: str, suffix: str) -> str | None:
    """The bucket of a virtual-hosted request: `bucket.<suffix>[:port]` -> bucket; None for
    any other Host (the suffix itself, an IP address: path style)."""
    name = host.lower()
    if not name.startswith("["):  # not an IPv6 literal: drop the port
        name = name.partition(":")[0]
    if name.endswith(suffix) and name[-len(suffix) - 1 : -len(suffix)] == ".":
        return name[: -len(suffix) - 1] or None
    return None


def is_utf8(text: str) -> bool:
    """aiohttp decodes header bytes with surrogateescape: invalid UTF-8 shows as surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def int_param(q: dict[str, str | None], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high] (InvalidArgument otherwise)."""
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


# ---------------------------------------------------------------------------- ranges, conditions


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


# ---------------------------------------------------------------------------- response values

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_time(ts: float) -> str:
    """RFC 1123 date in GMT, as email.utils.formatdate(usegmt=True) writes it, but 5x cheaper."""
    return _http_time_of(int(ts))


@functools.lru_cache(maxsize=1024)
def _http_time_of(second: int) -> str:
    # Cached: small objects written together share their Last-Modified second.
    t = time.gmtime(second)
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


# ---------------------------------------------------------------------------- the request


class Body(Protocol):
    """Where handlers read a request body from: aiohttp's stream, or a fault's stand-in."""

    async def readany(self) -> bytes: ...


class Ctx:
    """One request, parsed; `body` is what handlers read the request body from."""

    __slots__ = (
        "body",
        "body_length",
        "bucket",
        "decision",
        "headers",
        "key",
        "method",
        "op",
        "q",
        "query",
        "raw_headers",
        "request",
        "request_id",
        "s3",
    )

    def __init__(self, request: web.BaseRequest, request_id: str) -> None:
        self.request = request
        self.request_id = request_id
        self.method = request.method.upper()
        self.headers: dict[str, str] = {k.lower(): v for k, v in request.headers.items()}
        # The S3 dialect (`s3`) rewrites `headers` into OSS terms; these are as sent (signed).
        self.raw_headers = self.headers
        self.s3 = False
        self.bucket = ""
        self.key = ""
        self.query: Query = []
        self.q: dict[str, str | None] = {}
        self.op = "Unknown"
        self.decision: Decision = NO_FAULT
        self.body: Body = request.content
        # The length of `body` as handlers read it: Content-Length, unless a dialect decodes
        # the body on the way in (S3's aws-chunked framing announces the decoded length).
        self.body_length: int | None = request.content_length

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

    @property
    def signed(self) -> bool:
        """Whether the request carries a signature (header or presigned query)."""
        if self.s3:  # an S3 request is always verified (`s3auth`), header or presigned
            return True
        return "authorization" in self.headers or any(
            k in self.q for k in ("Signature", "x-oss-signature", "x-oss-credential")
        )

    @property
    def url_encoded(self) -> bool:
        """encoding-type=url: keys and prefixes in the XML answer are URL-encoded."""
        return self.q.get("encoding-type") == "url"
