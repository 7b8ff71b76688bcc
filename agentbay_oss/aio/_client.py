"""The HTTP layer: one aiohttp session per AsyncSession, signing, error mapping, retries.

`HttpCore` belongs to a session (connection pool + the ONE request semaphore shared by every
file and part). `OssClient` adds credentials, addressing and signing (set up by env_init).
Engine code holds a request slot (`core.slot()`) around reading a part and sending it, so
at most `concurrency` part buffers are alive per session, whatever the file sizes.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import inspect
import ipaddress
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ..config import TransferConfig
from ..errors import (
    ClientError,
    InvalidInputError,
    OssError,
    ProtocolError,
    ServerError,
    TokenExpiredError,
)
from ..protocol import xml as oxml
from ..protocol.metadata import source_mtime_ns
from ..protocol.signing import Credentials, encode_query, mask_secret, sign_v1, sign_v4
from ._errors import error_from_response, from_exception
from ._hops import HopBatcher

log = logging.getLogger("agentbay_oss.aio")
T = TypeVar("T")

DEFAULT_ENDPOINT = "https://oss-cn-hangzhou.aliyuncs.com"
_REGION_RE = re.compile(r"^oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com$")
_ERROR_BODY_LIMIT = 64 * 1024
# The credentials generation the current task's last request was signed with.
_signed_with: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "agentbay_oss_signed_with", default=None
)
# Listing pages waiting for the caller: one read-ahead idled the server whenever the caller
# took longer than usual over a page (a sync's merge, a busy machine).
LIST_AHEAD = 3
REFRESH_MARGIN = 60.0  # seconds before a known expiry when the provider is asked again

CredentialsProvider = Callable[[], "Credentials | Awaitable[Credentials] | Any"]


# ---------------------------------------------------------------------------- endpoint


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    netloc: str  # host[:port]
    region: str
    path_style: bool

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def _is_ip_or_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_endpoint(endpoint: str | None, region: str | None, need_region: bool) -> Endpoint:
    """Validate an endpoint; derive the region of `oss-REGION(-internal).aliyuncs.com`."""
    raw = (endpoint or DEFAULT_ENDPOINT).strip()
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("invalid://")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"invalid endpoint {endpoint!r}",
            hint="use a URL like https://oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:9000",
        )
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise InvalidInputError(
            f"endpoint {endpoint!r} must be scheme://host[:port] only (no path, query or user)"
        )
    try:
        port = parts.port
    except ValueError:
        raise InvalidInputError(f"endpoint {endpoint!r} has an invalid port") from None
    host = parts.hostname.lower()
    if region is not None and (
        not isinstance(region, str) or not re.fullmatch(r"[a-z0-9-]+", region)
    ):
        raise InvalidInputError(f"invalid region {region!r}", hint="use a region like cn-hangzhou")
    derived = ""
    m = _REGION_RE.match(host)
    if m:
        derived = m.group(1)
    final_region = region or derived
    if need_region and not final_region:
        raise InvalidInputError(
            f"cannot derive the region from endpoint {endpoint!r}",
            hint="pass region= (for example region='cn-hangzhou'); V4 signatures need it",
        )
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return Endpoint(parts.scheme, netloc, final_region, _is_ip_or_local(host))


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, for messages about connecting."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def safe_url(url: str) -> str:
    """A URL for logs and messages: the query string (signatures, tokens) is masked."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    q = "?<query masked>" if parts.query else ""
    return (
        f"{parts.scheme}://{parts.hostname or ''}{':' + str(port) if port else ''}{parts.path}{q}"
    )


# ---------------------------------------------------------------------------- HTTP core


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark an abandoned future's outcome as seen (no 'exception never retrieved' noise)."""
    if not fut.cancelled():
        fut.exception()


class HttpCore:
    """Connection pool, request semaphore and the retry loop of one session."""

    def __init__(self, config: TransferConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set on first use
        self._buffers: list[bytearray] = []
        self.closed = False
        self.hops = HopBatcher()  # small-file reads and writes, many per thread hop

    def _check_loop(self) -> None:
        """A session's connections and request slots belong to the event loop it first ran
        on. Used from another loop they would fail deep inside aiohttp ("attached to a
        different loop") and leave futures nobody retrieves: say so clearly instead."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise InvalidInputError(
                "this session belongs to another event loop (a blocking AgentBay session "
                "runs on the SDK's private loop thread)",
                hint="in async code create the session with AsyncAgentBay; use a blocking "
                "session only through its blocking methods",
            )

    @property
    def session(self) -> aiohttp.ClientSession:
        self._check_loop()
        if self._session is None or self._session.closed:
            cfg = self.config
            connector = aiohttp.TCPConnector(
                limit=cfg.concurrency + 4, limit_per_host=0, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=cfg.connect_timeout, sock_read=cfg.read_timeout
                ),
                auto_decompress=False,
                # aiohttp would add a Content-Type to byte bodies (breaking presigned URLs
                # signed without one) and ask for gzip (we write bytes as they come).
                skip_auto_headers=("Content-Type", "Accept-Encoding"),
                read_bufsize=1 << 20,
            )
        return self._session

    @property
    def sem(self) -> asyncio.Semaphore:
        self._check_loop()
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.concurrency)
        return self._sem

    def slot(self) -> asyncio.Semaphore:
        """`async with core.slot():` around one request (and reading its body)."""
        return self.sem

    def take_buffer(self, size: int) -> bytearray:
        """A part buffer of at least `size` bytes, reused across parts and files.

        Reuse keeps RSS flat: fresh 8 MiB allocations in worker threads land in per-thread
        malloc arenas and are not given back to the system promptly.
        """
        while self._buffers:
            buf = self._buffers.pop()
            if len(buf) >= size:
                return buf
        return bytearray(size)

    def give_buffer(self, buf: bytearray) -> None:
        if len(self._buffers) < self.config.concurrency:
            self._buffers.append(buf)

    async def close(self) -> None:
        self.closed = True
        self._buffers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def backoff(self, attempt: int, err: OssError) -> float:
        cfg = self.config
        ceiling = min(cfg.backoff_max, cfg.backoff_base * (2**attempt))
        delay = random.uniform(0, ceiling)
        if isinstance(err, ServerError) and err.delay is not None:
            delay = max(delay, min(err.delay, 60.0))  # the server asked: wait at least that
        return delay

    async def retry(
        self,
        op: Callable[[], Awaitable[T]],
        where: str,
        on_token_expired: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        """Run `op` with exponential backoff (full jitter) on retryable errors."""
        attempt = 0
        refreshed = False
        while True:
            try:
                return await op()
            except Exception as exc:
                err = from_exception(exc, where)
                if (
                    isinstance(err, TokenExpiredError)
                    and on_token_expired is not None
                    and not refreshed
                ):
                    refreshed = True
                    if await on_token_expired():
                        continue
                if not err.retryable or attempt >= self.config.max_retries:
                    if err is exc:
                        raise
                    raise err from exc
                delay = self.backoff(attempt, err)
                log.debug("retry %d of %s in %.2fs after: %s", attempt + 1, where, delay, err)
                attempt += 1
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def open_url(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: Any = None,
        where: str = "",
        ok: Sequence[int] = (200,),
        anonymous: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request; a status outside `ok` raises the mapped OssError."""
        if self.closed:
            from ..errors import SessionClosedError

            raise SessionClosedError("the session was deleted", hint="create a new session")
        started = time.monotonic()
        entered = False
        try:
            async with self.session.request(
                method, URL(url, encoded=True), headers=headers, data=data, allow_redirects=False
            ) as resp:
                entered = True
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s %s -> %d request_id=%s %.3fs",
                        method,
                        where,
                        resp.status,
                        resp.headers.get("x-oss-request-id", ""),
                        time.monotonic() - started,
                    )
                if resp.status not in ok:
                    body = b""
                    if method != "HEAD":
                        body = await resp.content.read(_ERROR_BODY_LIMIT)
                    raise error_from_response(
                        resp.status, resp.headers, body, f"{method} {where}", anonymous
                    )
                yield resp
        except aiohttp.ClientConnectorError as exc:
            if entered:
                raise
            # Name the host we could not reach (the caller's `where` names the object).
            raise from_exception(exc, _origin(url)) from exc


# ---------------------------------------------------------------------------- OSS client


@dataclass(frozen=True)
class ObjectMeta:
    size: int
    etag: str
    crc64: int | None
    last_modified: str = ""
    content_type: str = ""
    metadata: tuple[tuple[str, str], ...] = ()  # x-oss-meta-* (names lower-cased, no prefix)

    @property
    def source_mtime_ns(self) -> int | None:
        """The mtime a download gives the file: the uploader's (x-oss-meta-mtime), else the
        object's Last-Modified (for objects other tools wrote), else None."""
        return source_mtime_ns(dict(self.metadata), self.last_modified)

    @classmethod
    def from_headers(cls, h: Mapping[str, str], size: int) -> ObjectMeta:
        return cls(
            size,
            h.get("ETag", ""),
            header_crc(h),
            h.get("Last-Modified", ""),
            h.get("Content-Type", ""),
            user_metadata(h),
        )


META_PREFIX = "x-oss-meta-"


def user_metadata(h: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (k.lower()[len(META_PREFIX) :], v)
            for k, v in h.items()
            if k.lower().startswith(META_PREFIX)
        )
    )


def header_crc(headers: Mapping[str, str]) -> int | None:
    value = headers.get("x-oss-hash-crc64ecma")
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ProtocolError(f"the server sent a non-numeric CRC64 header {value[:30]!r}") from None


class OssClient:
    """Credentials + endpoint + signing on top of a session's HttpCore."""

    def __init__(
        self,
        core: HttpCore,
        creds: Credentials,
        endpoint: Endpoint,
        signature_version: str,
        provider: CredentialsProvider | None = None,
    ) -> None:
        self.core = core
        self.creds = creds
        self.endpoint = endpoint
        self.signature_version = signature_version
        self.provider = provider
        self._expires_at: float | None = None
        self._refresh_lock = asyncio.Lock()
        self._generation = 0  # bumped by every provider call

    # -- credentials

    async def _call_provider(self) -> None:
        assert self.provider is not None
        got = self.provider()
        if inspect.isawaitable(got):
            got = await got
        expires: Any = None
        if isinstance(got, tuple):
            got, expires = got
        if not isinstance(got, Credentials):
            raise InvalidInputError(
                "credentials_provider must return a Credentials (or (Credentials, expiry))"
            )
        if isinstance(expires, datetime):
            expires = expires.timestamp()
        self.creds = got
        self._expires_at = float(expires) if expires is not None else None
        self._generation += 1

    async def refresh_credentials(self, used: int | None = None) -> bool:
        """Ask the provider for new credentials, unless they changed since generation `used`
        (the one a refused request was signed with): many requests refused together, or
        about to expire together, cause one call, and nobody replaces fresh credentials."""
        if self.provider is None:
            return False
        seen = self._generation if used is None else used
        async with self._refresh_lock:
            if self._generation == seen:
                await self._call_provider()
        return True

    async def _on_token_expired(self) -> bool:
        return await self.refresh_credentials(_signed_with.get())

    async def _current_creds(self) -> Credentials:
        if (
            self.provider is not None
            and self._expires_at is not None
            and time.time() > self._expires_at - REFRESH_MARGIN
        ):
            await self.refresh_credentials()
        return self.creds

    # -- requests

    def url(self, bucket: str, key: str, query: Sequence[tuple[str, str | None]] = ()) -> str:
        ep = self.endpoint
        path = "/" + quote(key, safe="/~")
        if not bucket:  # the service itself (ListBuckets)
            url = f"{ep.scheme}://{ep.netloc}/"
        elif ep.path_style:
            url = f"{ep.scheme}://{ep.netloc}/{bucket}{path}"
        else:
            url = f"{ep.scheme}://{bucket}.{ep.netloc}{path}"
        if query:
            url += "?" + encode_query(query)
        return url

    def signed_headers(
        self,
        creds: Credentials,
        method: str,
        bucket: str,
        key: str,
        query: Sequence[tuple[str, str | None]],
        headers: Mapping[str, str] | None,
    ) -> dict[str, str]:
        h = dict(headers or {})
        now = datetime.now(timezone.utc)
        if self.signature_version == "v4":
            sign_v4(creds, self.endpoint.region, method, bucket, key, query, h, now)
        else:
            sign_v1(creds, method, bucket, key, query, h, now)
        return h

    @asynccontextmanager
    async def open(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        query: Sequence[tuple[str, str | None]] = (),
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        ok: Sequence[int] = (200,),
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        creds = await self._current_creds()
        _signed_with.set(self._generation)  # read back by _on_token_expired in this task
        h = self.signed_headers(creds, method, bucket, key, query, headers)
        where = f"oss://{bucket}/{key}"
        async with self.core.open_url(
            method, self.url(bucket, key, query), h, data, where, ok, anonymous=False
        ) as r:
            log.debug(
                "%s %s: %d %s", method, where, r.status, r.headers.get("x-oss-request-id", "")
            )
            if "x-oss-request-id" not in r.headers:
                # OSS stamps every answer; without it a proxy or web page answered (its body
                # must not be taken for an object or an upload receipt).
                ctype = r.headers.get("Content-Type", "no Content-Type").split(";")[0]
                raise ProtocolError(
                    f"{method} {where}: the answer from {self.endpoint.base} is not an OSS "
                    f"reply (no x-oss-request-id header; {ctype})",
                    hint="check the endpoint: a proxy, captive portal or other web server answered",
                )
            yield r

    async def retry(self, op: Callable[[], Awaitable[T]], where: str) -> T:
        return await self.core.retry(op, where, self._on_token_expired if self.provider else None)

    async def simple(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        query: Sequence[tuple[str, str | None]] = (),
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        ok: Sequence[int] = (200,),
    ) -> tuple[int, CIMultiDict[str], bytes]:
        """A small request with retries: (status, headers (case-insensitive), body)."""

        async def op() -> tuple[int, CIMultiDict[str], bytes]:
            async with (
                self.core.slot(),
                self.open(method, bucket, key, query=query, headers=headers, data=data, ok=ok) as r,
            ):
                body = await r.read()
                return r.status, CIMultiDict(r.headers), body

        return await self.retry(op, f"{method} oss://{bucket}/{key}")

    async def head(self, bucket: str, key: str) -> ObjectMeta:
        _, h, _ = await self.simple("HEAD", bucket, key)
        try:
            size = int(h.get("Content-Length", ""))
        except ValueError:
            raise ProtocolError(f"HEAD oss://{bucket}/{key}: no Content-Length") from None
        return ObjectMeta.from_headers(h, size)

    async def list_page(
        self, bucket: str, prefix: str, token: str, delimiter: str | None, max_keys: int = 1000
    ) -> oxml.ListPage:
        query: list[tuple[str, str | None]] = [
            ("list-type", "2"),
            ("max-keys", str(max_keys)),
            ("encoding-type", "url"),
        ]
        if prefix:
            query.append(("prefix", prefix))
        if token:
            query.append(("continuation-token", token))
        if delimiter:
            query.append(("delimiter", delimiter))
        _, _, body = await self.simple("GET", bucket, "", query=query)
        return oxml.parse_list_objects(body)

    async def iter_list(
        self, bucket: str, prefix: str, delimiter: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[oxml.ListPage]:
        """Pages of a listing. Pages are requested ahead of the caller, up to LIST_AHEAD of
        them waiting, by one task that follows the continuation tokens: the server lists the
        next pages while the caller works through this one (memory stays a few pages)."""
        pages: asyncio.Queue[oxml.ListPage | Exception] = asyncio.Queue(LIST_AHEAD)

        async def fetch() -> None:
            token = ""
            try:
                while True:
                    page = await self.list_page(bucket, prefix, token, delimiter, page_size)
                    if page.is_truncated and page.next_token == token:
                        raise ProtocolError("the listing did not advance; giving up")
                    await pages.put(page)
                    if not page.is_truncated:
                        return
                    token = page.next_token
            except Exception as exc:  # handed to the caller, in order after the pages
                await pages.put(exc)

        fetcher = asyncio.ensure_future(fetch())
        try:
            while True:
                got = await pages.get()
                if isinstance(got, Exception):
                    raise got
                yield got
                if not got.is_truncated:
                    return
        finally:
            if not fetcher.done():
                fetcher.cancel()
                fetcher.add_done_callback(_retrieve)

    async def delete_batch(self, bucket: str, keys: list[str]) -> None:
        """DeleteMultipleObjects of up to 1,000 keys (quiet: the reply lists only failures)."""
        body = oxml.build_delete_multiple(keys)
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        _, _, reply = await self.simple(
            "POST",
            bucket,
            "",
            query=[("delete", None), ("encoding-type", "url")],
            headers={"Content-MD5": md5, "Content-Type": "application/xml"},
            data=body,
        )
        failed = oxml.parse_delete_multiple(reply)
        if failed:
            raise ClientError(
                f"DeleteMultipleObjects in oss://{bucket} left {len(failed)} key(s), "
                f"e.g. {failed[0]!r}"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.base,
            "region": self.endpoint.region,
            "signature_version": self.signature_version,
            "addressing_style": "path" if self.endpoint.path_style else "virtual-hosted",
            "access_key_id": mask_secret(self.creds.access_key_id),
            "has_security_token": bool(self.creds.security_token),
            "has_credentials_provider": self.provider is not None,
        }
