"""Where a transfer's bytes go or come from: a signed object or a plain URL.

The engines (`_upload`, `_download`, `_copy`) speak only to a `Target`, so a signed transfer
and a presigned / public URL transfer run the same code. A request can only be opened through
a `Lease`, which holds one of the session's `concurrency` request slots: no call site can
forget the slot, and work done inside a lease (reading a part) is bounded the same way.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from email.message import Message
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from multidict import CIMultiDict

from ..errors import InvalidInputError, ProtocolError
from ..protocol import planning
from ..protocol.keys import url_basename
from ._client import HttpCore, ObjectMeta, OssClient, safe_url

T = TypeVar("T")
Query = Sequence[tuple[str, "str | None"]]


class Lease:
    """One request slot of the session, held for the life of an `async with target.lease()`
    unless handed back earlier with `release` (a request whose body is sent and whose answer
    is only awaited: the next request may go on the wire meanwhile)."""

    __slots__ = ("_held", "_target")

    def __init__(self, target: Target) -> None:
        self._target = target
        self._held = True

    def release(self) -> None:
        """Hand the slot back now; the lease's end then hands back nothing."""
        if self._held:
            self._held = False
            self._target.core.sem.release()

    def open(
        self,
        method: str,
        *,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        ok: Sequence[int] = (200,),
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        return self._target._open(method, query, headers, data, ok)


class Target:
    """Base of the two kinds of target. `where` names it in messages (never a secret)."""

    signed = False  # signed targets send Content-MD5 and support multipart / copy / HEAD
    where = ""

    def __init__(self, core: HttpCore) -> None:
        self.core = core

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        await self.core.sem.acquire()
        lease = Lease(self)
        try:
            yield lease
        finally:
            lease.release()

    @asynccontextmanager
    async def request(
        self,
        method: str,
        *,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        ok: Sequence[int] = (200,),
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request in its own slot (for a response read right away)."""
        async with (
            self.lease() as lease,
            lease.open(method, query=query, headers=headers, data=data, ok=ok) as r,
        ):
            yield r

    async def retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        return await self.core.retry(op, what)

    async def simple(
        self,
        method: str,
        *,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        ok: Sequence[int] = (200,),
    ) -> tuple[int, CIMultiDict[str], bytes]:
        """A small request with retries: (status, headers, body)."""

        async def op() -> tuple[int, CIMultiDict[str], bytes]:
            async with self.request(method, query=query, headers=headers, data=data, ok=ok) as r:
                body = await r.read()
                return r.status, CIMultiDict(r.headers), body

        return await self.retry(op, f"{method} {self.where}")

    def resume_identity(self) -> tuple[str, str, str]:
        """(endpoint, bucket, key) naming this object in resume records."""
        raise NotImplementedError

    def _open(
        self,
        method: str,
        query: Query,
        headers: Mapping[str, str] | None,
        data: Any,
        ok: Sequence[int],
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        raise NotImplementedError


class ObjectTarget(Target):
    """An object addressed by bucket and key, with the session's credentials."""

    signed = True

    def __init__(self, client: OssClient, bucket: str, key: str) -> None:
        super().__init__(client.core)
        self.client = client
        self.bucket = bucket
        self.key = key
        self.where = f"oss://{bucket}/{key}"

    def __repr__(self) -> str:
        return f"<ObjectTarget {self.where}>"

    async def retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        return await self.client.retry(op, what)  # refreshes expired STS credentials

    def resume_identity(self) -> tuple[str, str, str]:
        return self.client.endpoint.base, self.bucket, self.key

    def _open(
        self,
        method: str,
        query: Query,
        headers: Mapping[str, str] | None,
        data: Any,
        ok: Sequence[int],
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        return self.client.open(
            method, self.bucket, self.key, query=query, headers=headers, data=data, ok=ok
        )

    async def head(self) -> ObjectMeta:
        return await self.client.head(self.bucket, self.key)


class UrlTarget(Target):
    """A presigned or public URL: sent as given, no signing (its query is never shown)."""

    def __init__(self, core: HttpCore, url: str) -> None:
        super().__init__(core)
        validate_url(url)
        self.url = url
        self.where = safe_url(url)

    def __repr__(self) -> str:
        return f"<UrlTarget {self.where}>"

    def resume_identity(self) -> tuple[str, str, str]:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}", "", parts.path

    def _open(
        self,
        method: str,
        query: Query,
        headers: Mapping[str, str] | None,
        data: Any,
        ok: Sequence[int],
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        if query:
            raise InvalidInputError(f"{self.where}: a URL target takes no extra query")
        return self.core.open_url(method, self.url, dict(headers or {}), data, self.where, ok)

    def child(self, rel: str) -> UrlTarget:
        """The URL of `rel` below this one (a directory upload to a public-write bucket)."""
        return UrlTarget(self.core, self.url.rstrip("/") + "/" + quote(rel, safe="/~"))

    def file_name(self, content_disposition: str | None) -> str:
        """The name a download into a directory gets: Content-Disposition, else the URL path."""
        if content_disposition:
            msg = Message()
            msg["content-disposition"] = content_disposition
            name = msg.get_filename()
            if name:
                safe = url_basename(name.replace("\\", "/"))
                if safe:
                    return safe
        path = unquote(urlsplit(self.url).path)
        return "" if path.endswith("/") else url_basename(path)  # ".../dir/" names no file


def validate_url(url: str) -> None:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("the URL is empty", hint="pass an http:// or https:// URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        # safe_url cannot parse it either: show it without query string or user info.
        shown = re.sub(r"//[^/@]*@", "//", url.split("?", 1)[0])[:200]
        raise InvalidInputError(
            f"malformed URL {shown}: {exc}", hint="check the URL (copy it again)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"unsupported URL {safe_url(url)}", hint="pass an http:// or https:// URL with a host"
        )


def meta_from_range_reply(headers: Mapping[str, str], where: str) -> tuple[ObjectMeta, int]:
    """(object meta, bytes in this answer) of a 206 to a GET that asked for a first range."""
    try:
        start, end, total = planning.parse_content_range(headers.get("Content-Range", ""))
    except ValueError:
        raise ProtocolError(f"GET {where}: 206 without a valid Content-Range") from None
    if start != 0 or total is None or end < start:
        raise ProtocolError(f"GET {where}: unexpected Content-Range")
    return ObjectMeta.from_headers(headers, total), end + 1
