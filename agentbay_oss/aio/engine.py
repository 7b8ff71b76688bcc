"""The transfer engine, for this project's other rooms (CLI, fsspec filesystem, Dask layer).

`AsyncOss` turns failures into result objects; the engine raises the typed `OssError`s, which
is what a filesystem or a task runner wants. Get it from an initialised `AsyncOss`:

    engine = Engine.of(session.oss)              # shares the session's pool and slots
    src = engine.object("b", "data/in.parquet")  # a signed target; engine.url(u) for URLs
    meta = await engine.head(src)                # size, etag, crc64, content type, metadata
    async for chunks in engine.iter_ranges(src, offset=0, length=4096): ...
    data = await engine.read(src, offset=0, length=4096)  # no HEAD: small objects in one GET
    await engine.upload_source(engine.object("b", "k"), b"bytes or any stream")
    await engine.upload_file(engine.object("b", "k"), "/local/file")
    await engine.download_file(src, Path("/local/out"))
    await engine.copy(src, engine.object("b2", "k2"))
    async for page in engine.list_pages("b", "data/", delimiter="/"): ...
    await engine.delete("b", ["k1", "k2"])       # DeleteMultipleObjects, 1,000 a request
    async for bucket in engine.list_buckets(): ...  # name, region, created
    await engine.create_bucket("b"); await engine.delete_bucket("b")  # an empty one
    results = await run_pool(keys, engine.concurrency, fetch)  # the engine's worker pool

Every call takes an optional `progress` hook, as the `AsyncOss` methods do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, NotFoundError
from ..models import TransferredObject
from ..protocol import xml as oxml
from ..protocol.keys import validate_bucket
from ..protocol.metadata import object_headers
from ..protocol.xml import BucketEntry, ListPage, UploadEntry
from ._client import ObjectMeta, OssClient
from ._common import Progress, ProgressHook, run_pool
from ._copy import check_same_region, copy_object
from ._download import clamp_range, download_object, iter_ranges, read_span
from ._sources import StreamSource, as_source
from ._target import Lease, ObjectTarget, Target, UrlTarget
from ._upload import upload_file, upload_source

if TYPE_CHECKING:
    from ._api import AsyncOss

DELETE_BATCH = 1000


class Engine:
    """The engine bound to one initialised session (see the module doc)."""

    def __init__(self, client: OssClient) -> None:
        self._client = client

    @classmethod
    def of(cls, oss: AsyncOss) -> Engine:
        """The engine of an `AsyncOss` (env_init first; for a blocking `Oss`, pass its
        `async_oss` and run the engine on the loop you use)."""
        return cls(oss._require())

    def __repr__(self) -> str:
        return f"<Engine {self._client.endpoint.base}>"

    @property
    def concurrency(self) -> int:
        return self._client.core.config.concurrency

    def object(self, bucket: str, key: str) -> ObjectTarget:
        return ObjectTarget(self._client, bucket, key)

    def url(self, url: str) -> UrlTarget:
        return UrlTarget(self._client.core, url)

    async def head(self, target: ObjectTarget) -> ObjectMeta:
        return await target.head()

    async def upload_file(
        self,
        target: Target,
        path: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        forbid_overwrite: bool = False,
        progress: ProgressHook | None = None,
    ) -> TransferredObject:
        """`forbid_overwrite`: the server refuses to replace an existing object (409
        FileAlreadyExists, checked by PutObject / InitiateMultipartUpload); signed targets only."""
        headers = _headers(target, content_type, metadata, forbid_overwrite)
        return await upload_file(target, path, None, Progress(progress), headers=headers)

    async def upload_source(
        self,
        target: ObjectTarget,
        source: Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        forbid_overwrite: bool = False,
        progress: ProgressHook | None = None,
    ) -> TransferredObject:
        """bytes, a binary file object or a (async) iterable of bytes (see `as_source`).
        An iterable that raises aborts the upload (no multipart upload is left behind)."""
        src = source if isinstance(source, StreamSource) else as_source(source)
        headers = _headers(target, content_type, metadata, forbid_overwrite) or {}
        return await upload_source(target, src, Progress(progress), headers)

    async def download_file(
        self,
        target: Target,
        dest: Path,
        *,
        meta: ObjectMeta | None = None,
        progress: ProgressHook | None = None,
    ) -> TransferredObject:
        """Into a regular file at `dest` (temp file, atomic rename). `meta`: the object's
        HEAD if the caller has it (saves a request; ranges are pinned by its ETag)."""
        if meta is None and isinstance(target, ObjectTarget):
            meta = await target.head()
        return await download_object(target, dest, Progress(progress), meta=meta)

    async def iter_ranges(
        self,
        target: ObjectTarget,
        offset: int = 0,
        length: int | None = None,
        *,
        meta: ObjectMeta | None = None,
        progress: ProgressHook | None = None,
    ) -> AsyncIterator[list[bytes]]:
        """Bytes [offset, offset + length) in order, a list of chunks per range."""
        meta = meta or await target.head()
        start, count = clamp_range(meta, offset, length)
        async for chunks in iter_ranges(target, meta, start, count, Progress(progress)):
            yield chunks

    async def read(
        self,
        target: ObjectTarget,
        offset: int = 0,
        length: int | None = None,
        *,
        progress: ProgressHook | None = None,
    ) -> bytes:
        """Bytes [offset, offset + length) (None: to the end; fewer where the object ends),
        with no HEAD first: a small object is one GET. NotFoundError if there is none."""
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        return b"".join(await read_span(target, offset, length, Progress(progress)))

    async def copy(
        self, src: ObjectTarget, dst: ObjectTarget, *, progress: ProgressHook | None = None
    ) -> TransferredObject:
        """Server-side copy; between buckets of two regions an InvalidInputError saying so."""
        await check_same_region(self._client, src.bucket, dst.bucket)
        return await copy_object(src, dst, Progress(progress))

    async def list_pages(
        self, bucket: str, prefix: str = "", delimiter: str | None = None
    ) -> AsyncIterator[ListPage]:
        """Listing pages in key order, the next ones read while the caller works."""
        async for page in self._client.iter_list(bucket, prefix, delimiter):
            yield page

    async def delete(self, bucket: str, keys: Iterable[str]) -> int:
        """Delete `keys` (any number), 1,000 a request; returns how many were sent."""
        batch: list[str] = []
        sent = 0
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                await self._client.delete_batch(bucket, batch)
                sent, batch = sent + len(batch), []
        if batch:
            await self._client.delete_batch(bucket, batch)
            sent += len(batch)
        return sent

    async def list_uploads(self, bucket: str, prefix: str = "") -> AsyncIterator[UploadEntry]:
        """The bucket's unfinished multipart uploads (ListMultipartUploads), 1,000 a page."""
        markers: tuple[str, str] = ("", "")
        while True:
            query: list[tuple[str, str | None]] = [
                ("uploads", None),
                ("max-uploads", "1000"),
                ("encoding-type", "url"),
            ]
            query += [("prefix", prefix)] if prefix else []
            if markers[0]:
                query += [("key-marker", markers[0]), ("upload-id-marker", markers[1])]
            _, _, body = await self._client.simple("GET", bucket, "", query=query)
            page = oxml.parse_list_uploads(body)
            for upload in page.uploads:
                yield upload
            following = (page.next_key_marker, page.next_upload_id_marker)
            if not page.is_truncated or following == markers:
                return
            markers = following

    async def abort_upload(self, bucket: str, upload: UploadEntry) -> bool:
        """AbortMultipartUpload; False when it was already gone (finished or aborted)."""
        try:
            await self._client.simple(
                "DELETE", bucket, upload.key, query=[("uploadId", upload.upload_id)], ok=(204, 200)
            )
        except NotFoundError as exc:
            if exc.code != "NoSuchUpload":
                raise
            return False
        return True

    async def list_buckets(self, prefix: str = "") -> AsyncIterator[BucketEntry]:
        """The account's buckets (GetService), in name order, a page of 1,000 at a time."""
        marker = ""
        while True:
            query: list[tuple[str, str | None]] = [("max-keys", "1000")]
            query += [("prefix", prefix)] if prefix else []
            query += [("marker", marker)] if marker else []
            _, _, body = await self._client.simple("GET", "", "", query=query)
            page = oxml.parse_list_buckets(body)
            for bucket in page.buckets:
                yield bucket
            if not page.is_truncated or page.next_marker == marker:
                return
            marker = page.next_marker

    async def create_bucket(self, bucket: str) -> None:
        """PutBucket with the service's defaults (storage class, ACL)."""
        validate_bucket(bucket)
        await self._client.simple("PUT", bucket, "")

    async def delete_bucket(self, bucket: str) -> None:
        """DeleteBucket: OSS refuses one that holds objects (ClientError BucketNotEmpty)."""
        validate_bucket(bucket)
        await self._client.simple("DELETE", bucket, "", ok=(200, 204))


def _headers(
    target: Target,
    content_type: str | None,
    metadata: Mapping[str, str] | None,
    forbid_overwrite: bool = False,
) -> dict[str, str] | None:
    if isinstance(target, ObjectTarget):
        headers = object_headers(target.key, content_type, metadata)
        if forbid_overwrite:
            headers["x-oss-forbid-overwrite"] = "true"
        return headers
    if forbid_overwrite:
        raise InvalidInputError("forbid_overwrite needs a signed target, not a URL")
    return None  # a presigned URL was signed without them


__all__ = [
    "BucketEntry",
    "Engine",
    "Lease",
    "ListPage",
    "ObjectMeta",
    "ObjectTarget",
    "StreamSource",
    "Target",
    "UploadEntry",
    "UrlTarget",
    "as_source",
    "run_pool",
]
