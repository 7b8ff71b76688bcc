"""Public async API: AsyncAgentBay -> AsyncSession -> AsyncOss.

AsyncOss is the boundary: typed exceptions inside, result models outside. Nothing but
CancelledError / KeyboardInterrupt escapes its methods (after cleanup).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError

from ..config import TransferConfig, describe_validation_error
from ..errors import (
    IntegrityError,
    InvalidInputError,
    LocalFileError,
    NotFoundError,
    NotInitializedError,
    OssError,
    SessionClosedError,
)
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
    SessionResult,
    TransferredObject,
)
from ..protocol.crc64 import crc64
from ..protocol.keys import dir_prefix, key_basename, upload_key, validate_bucket, validate_key
from ..protocol.metadata import object_headers
from ..protocol.signing import Credentials, encode_query, presign_v1_query, presign_v4_query
from ..protocol.syncplan import PathFilter, check_compare
from ..protocol.xml import ListPage
from . import _files
from ._client import (
    CredentialsProvider,
    HttpCore,
    ObjectMeta,
    OssClient,
    parse_endpoint,
    safe_url,
)
from ._common import ObjectHook, Outcome, Progress, ProgressHook
from ._copy import check_same_region, copy_object, copy_prefix
from ._download import (
    Probe,
    clamp_range,
    download_object,
    download_prefix,
    download_to_stream_file,
    iter_ranges,
    probe_url,
)
from ._errors import from_exception
from ._sources import as_source
from ._sync import ActionHook, SyncCounts, SyncOptions, sync_download, sync_upload
from ._target import ObjectTarget, Target, UrlTarget, meta_from_range_reply
from ._upload import upload_dir, upload_file, upload_source

if TYPE_CHECKING:
    from ..dask import Job

log = logging.getLogger("agentbay_oss.aio")
R = TypeVar("R", bound=ApiResponse)
TR = TypeVar("TR", OSSUploadResult, OSSDownloadResult, OSSCopyResult, OSSSyncResult)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _check_text(name: str, value: Any, *, allow_empty: bool = False) -> str:
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidInputError(f"{name} is empty", hint=f"pass a non-empty {name}")
    if any(c in value for c in "\r\n\0") or value != value.strip():
        raise InvalidInputError(
            f"{name} contains whitespace or control characters",
            hint="copy the value again without spaces or line breaks",
        )
    return value


def _path_arg(path: Any) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise InvalidInputError("path is empty or not a string", hint="pass a local path")
    if "\0" in path:
        raise InvalidInputError(
            "path contains a NUL character", hint="remove the NUL character from the path"
        )
    return path


class AsyncOss:
    """OSS transfers of one session (the seed's `Oss` API, async)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._client: OssClient | None = None
        self._secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        state = "initialized" if self._client else "not initialized"
        return f"<AsyncOss {state}>"

    # -- boundary

    def _scrub(self, text: str) -> str:
        secrets = list(self._secrets)
        if self._client is not None:
            secrets += [
                self._client.creds.access_key_secret,
                self._client.creds.security_token or "",
            ]
        for s in secrets:
            if s and len(s) >= 4:
                text = text.replace(s, "***")
        if not text.isprintable():
            # NUL, line breaks or lone surrogates from keys and paths: escaped, so a message
            # prints on one line and encodes anywhere.
            text = "".join(
                c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
            )
        return text

    def _fail(self, cls: type[R], what: str, exc: BaseException, **extra: Any) -> R:
        err = from_exception(exc, what)
        err.message = self._scrub(err.message)
        err.hint = self._scrub(err.hint)
        message = self._scrub(f"{what} failed: {err}")
        log.debug("%s", message)
        result = cls(success=False, error_message=message, request_id=err.request_id, **extra)
        result._error = err
        return result

    async def _guard(self, cls: type[R], what: str, fn: Callable[[], Awaitable[R]]) -> R:
        """Run one operation as its own task, so that deleting the session can cancel it (and
        wait for its cleanup) without cancelling the caller, who gets a failed result."""
        session = self._session
        inner = asyncio.ensure_future(self._run(cls, what, fn))
        session._running.add(inner)
        try:
            return await inner
        except asyncio.CancelledError:
            if inner.cancelled() and session._deleting and not _cancel_requested():
                return self._fail(
                    cls,
                    what,
                    SessionClosedError(
                        "the session was deleted while this ran; nothing was left half-done",
                        hint="create a new session and run it again",
                    ),
                )
            raise
        finally:
            session._running.discard(inner)

    async def _run(self, cls: type[R], what: str, fn: Callable[[], Awaitable[R]]) -> R:
        try:
            return await fn()
        except Exception as exc:
            return self._fail(cls, what, exc)

    def _require(self) -> OssClient:
        if self._session.deleted:
            raise SessionClosedError(
                "this session was deleted",
                hint="create a new session with AsyncAgentBay.create()",
            )
        if self._client is None:
            raise NotInitializedError(
                "OSS is not initialized", hint="call session.oss.env_init(...) first"
            )
        return self._client

    def _transfer_result(
        self, cls: type[TR], verb: str, where: str, outcome: Outcome, started: float
    ) -> TR:
        elapsed = time.monotonic() - started
        fields: dict[str, Any] = {
            "files": outcome.files,
            "bytes": outcome.bytes,
            "failed": outcome.failed,
            "elapsed": elapsed,
            "objects": outcome.objects,
        }
        if outcome.failed:
            shown = "; ".join(f"{w}: {e}" for w, e in outcome.errors)
            more = outcome.failed - len(outcome.errors)
            if more > 0:
                shown += f"; and {more} more"
            message = self._scrub(
                f"{verb} {where} failed for {outcome.failed} item(s) "
                f"({outcome.files} file(s) transferred): {shown}"
            )
            result = cls(success=False, error_message=message, **fields)
            result._error = outcome.errors[0][1]
            return result
        rate = outcome.bytes / elapsed / 1e6 if elapsed > 0 else 0.0
        content = (
            f"{verb} success: {outcome.files} file(s), {_human(outcome.bytes)} {where} "
            f"in {elapsed:.2f}s ({rate:.1f} MB/s)"
        )
        return cls(success=True, content=content, **fields)

    # -- env_init

    async def env_init(
        self,
        access_key_id: str,
        access_key_secret: str,
        securityToken: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        *,
        security_token: str | None = None,
        signature_version: str = "v4",
        credentials_provider: CredentialsProvider | None = None,
    ) -> OSSClientResult:
        """Configure credentials, endpoint and signing. Offline: nothing is sent."""
        self._secrets = tuple(
            s for s in (access_key_secret, securityToken, security_token) if isinstance(s, str)
        )
        try:
            if self._session.core.closed:
                self._require()
            if securityToken and security_token and securityToken != security_token:
                raise InvalidInputError("securityToken and security_token differ; pass one")
            token = securityToken or security_token or None
            sv = str(signature_version).lower()
            if sv not in ("v1", "v4"):
                raise InvalidInputError(
                    f"unknown signature_version {signature_version!r}", hint="use 'v4' or 'v1'"
                )
            if credentials_provider is not None and not callable(credentials_provider):
                raise InvalidInputError("credentials_provider must be callable")
            ep = parse_endpoint(endpoint, region, need_region=sv == "v4")
            if credentials_provider is not None and not access_key_id:
                client = OssClient(
                    self._session.core, Credentials("", ""), ep, sv, credentials_provider
                )
                await client.refresh_credentials()
            else:
                ak = _check_text("access_key_id", access_key_id)
                sk = _check_text("access_key_secret", access_key_secret)
                if token is not None:
                    _check_text("securityToken", token)
                client = OssClient(
                    self._session.core, Credentials(ak, sk, token), ep, sv, credentials_provider
                )
            self._client = client
            return OSSClientResult(success=True, client_config=ClientConfig(**client.describe()))
        except Exception as exc:
            return self._fail(OSSClientResult, "env_init", exc)

    # -- transfers

    async def upload(
        self,
        bucket: str,
        object: str,
        path: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
        cluster: Any = None,
    ) -> OSSUploadResult:
        """Upload a file (to `object`, or `object + name` if it ends with '/') or a directory
        (under prefix `object/`; `include` / `exclude`: glob patterns on the relative path,
        as for sync). `content_type` defaults to a guess from each key's suffix; `metadata`
        is stored as x-oss-meta-* on every object (and the file's mtime as
        x-oss-meta-mtime). A directory's result keeps counts; each object goes to
        `on_object` as it is done (`objects` lists it only for a single file). `cluster`: a
        `distributed.Client` or scheduler address (or `agentbay_oss.dask.Cluster`) to shard
        a directory over; `path` must then be the same shared directory on every worker."""
        where = f"{path} to oss://{bucket}/{object}"

        async def run() -> OSSUploadResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            local = _path_arg(path)
            is_dir, info = await asyncio.to_thread(_files.stat_source, local)
            prog = Progress(progress)
            object_headers(object or "x", content_type, metadata)  # bad values: refused now
            chosen = PathFilter.of(include, exclude)
            outcome = Outcome(on_object, keep=not is_dir)
            if is_dir and cluster is not None:
                validate_key(object, allow_empty=True)
                prefix = dir_prefix(object)

                def headers_for(rel: str) -> dict[str, str]:
                    return object_headers(prefix + rel, content_type, metadata)

                def work(job: Job, root: str) -> Awaitable[None]:
                    from ..dask import upload_dir  # imports distributed: only here

                    return upload_dir(job, bucket, prefix, root, headers_for, chosen)

                await _on_cluster(cluster, client, local, prog, outcome, work)
            elif is_dir:
                validate_key(object, allow_empty=True)
                prefix = dir_prefix(object)
                await upload_dir(
                    lambda rel: ObjectTarget(client, bucket, prefix + rel),
                    local,
                    prog,
                    client.core.config.concurrency * 2,
                    outcome,
                    lambda rel: object_headers(prefix + rel, content_type, metadata),
                    chosen,
                )
            else:
                key = upload_key(_check_key_arg(object), Path(local))
                validate_key(key)
                prog.files_total, prog.bytes_total = 1, info.size
                headers = object_headers(key, content_type, metadata)
                target = ObjectTarget(client, bucket, key)
                await outcome.add(await upload_file(target, local, info, prog, headers=headers))
            return self._transfer_result(OSSUploadResult, "Upload", where, outcome, started)

        return await self._guard(OSSUploadResult, f"Upload of {where}", run)

    async def upload_stream(
        self,
        bucket: str,
        object: str,
        source: Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        progress: ProgressHook | None = None,
    ) -> OSSUploadResult:
        """Upload bytes, a binary file object (sync or async `read`) or a sync / async
        iterable of bytes chunks, of any size, known or not. Memory stays bounded: at most
        `concurrency` parts are alive; a source shorter than `multipart_threshold` goes as one
        PutObject. A source that raises or yields text fails the upload (nothing is stored)."""
        where = f"stream to oss://{bucket}/{object}"

        async def run() -> OSSUploadResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            key = _check_key_arg(object)
            validate_key(key)
            headers = object_headers(key, content_type, metadata)
            src = as_source(source)
            prog = Progress(progress, files_total=1, bytes_total=src.size or 0)
            prog.totals_final = src.size is not None
            try:
                obj = await upload_source(ObjectTarget(client, bucket, key), src, prog, headers)
            except InvalidInputError:
                raise
            except OssError:
                raise
            except Exception as exc:  # the caller's source raised: say so, not "unexpected"
                raise LocalFileError(
                    f"{src.label} raised {type(exc).__name__}: {exc}",
                    hint="nothing was stored; fix the source and upload again",
                ) from exc
            obj.content_type = headers["Content-Type"]
            outcome = Outcome(keep=True)
            await outcome.add(obj)
            return self._transfer_result(OSSUploadResult, "Upload", where, outcome, started)

        return await self._guard(OSSUploadResult, f"Upload of {where}", run)

    async def download(
        self,
        bucket: str,
        object: str,
        path: str,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
        cluster: Any = None,
    ) -> OSSDownloadResult:
        """Download an object to `path` (or into it if it is a directory), or a whole prefix
        (`object` ending with '/', or naming no object but having objects below it;
        `include` / `exclude` filter its relative keys, as for sync). A prefix's result
        keeps counts; each object goes to `on_object` as it is done. `cluster`: shard a
        prefix over a Dask cluster (as for `upload`; `path` shared by every worker).

        A symlink at `path` is followed (its target replaced atomically, the link kept); a
        character device or FIFO (`/dev/null`, a named pipe) is written into as a stream."""
        where = f"oss://{bucket}/{object} to {path}"

        async def run() -> OSSDownloadResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            local = _path_arg(path)
            validate_key(_check_key_arg(object, allow_empty=True), allow_empty=True)
            chosen = PathFilter.of(include, exclude)
            prog = Progress(progress)
            prefix: str | None = None
            meta = None
            if not object or object.endswith("/"):
                prefix = object
            else:
                try:
                    meta = await client.head(bucket, object)
                except NotFoundError as exc:
                    if exc.code == "NoSuchBucket":
                        raise
                    page = await client.list_page(bucket, object + "/", "", None, max_keys=1)
                    if not page.entries:
                        raise NotFoundError(
                            f"no object oss://{bucket}/{object} and no objects under "
                            f"oss://{bucket}/{object}/",
                            code="NoSuchKey",
                            status=404,
                            request_id=exc.request_id,
                            hint="check the key (list the bucket to see what is there)",
                        ) from None
                    prefix = object + "/"
            if prefix is not None:
                root = Path(local)
                if await asyncio.to_thread(root.is_file):
                    raise InvalidInputError(
                        f"{local} is a file but oss://{bucket}/{prefix} is a prefix of many "
                        "objects",
                        hint="pass a directory path",
                    )
                outcome = Outcome(on_object)
                if cluster is not None:
                    pre = prefix

                    def work(job: Job, here: str) -> Awaitable[None]:
                        from ..dask import download_prefix  # imports distributed: only here

                        return download_prefix(job, bucket, pre, Path(here), chosen)

                    await _on_cluster(cluster, client, local, prog, outcome, work, create=True)
                else:
                    await download_prefix(client, bucket, prefix, root, prog, outcome, chosen)
            else:
                assert meta is not None
                dest = Path(local)
                if local.endswith(("/", os.sep)) or await asyncio.to_thread(dest.is_dir):
                    dest = dest / key_basename(object)
                prog.files_total, prog.bytes_total = 1, meta.size
                outcome = Outcome(on_object, keep=True)
                target = ObjectTarget(client, bucket, object)
                await outcome.add(await _download_to(target, dest, prog, meta))
            return self._transfer_result(OSSDownloadResult, "Download", where, outcome, started)

        return await self._guard(OSSDownloadResult, f"Download of {where}", run)

    async def download_stream(
        self,
        bucket: str,
        object: str,
        writer: Any,
        *,
        offset: int = 0,
        length: int | None = None,
        progress: ProgressHook | None = None,
    ) -> OSSDownloadResult:
        """Write an object (or `length` bytes from `offset`) in order into a binary writable
        (`write(bytes)`, sync or async: a file object, sys.stdout.buffer, a socket file).
        Ranges are fetched concurrently; memory stays within `concurrency + 1` ranges. The
        whole object's CRC-64 is checked at the end, when the writer has the bytes already."""
        where = f"oss://{bucket}/{object}"  # the writer may be stdout: name only the source

        async def run() -> OSSDownloadResult:
            started = time.monotonic()
            write = _writer_of(writer)
            target, meta, start, count = await self._open_read(bucket, object, offset, length)
            prog = Progress(progress, files_total=1, bytes_total=count)
            crc = 0
            try:
                async for chunks in iter_ranges(target, meta, start, count, prog):
                    await write(chunks)
                    for c in chunks:
                        crc = crc64(c, crc)
            except OssError:
                raise
            except Exception as exc:  # the writer raised (closed, full, broken pipe)
                raise LocalFileError(
                    f"the writer raised {type(exc).__name__}: {exc}",
                    hint="the bytes written so far are incomplete; fix the writer and retry",
                ) from exc
            await prog.file_done(object)
            outcome = Outcome(keep=True)
            await outcome.add(
                TransferredObject(
                    key=object,
                    size=count,
                    etag=meta.etag,
                    crc64=crc if (start, count) == (0, meta.size) else None,
                    content_type=meta.content_type,
                    metadata=dict(meta.metadata),
                )
            )
            return self._transfer_result(OSSDownloadResult, "Download", where, outcome, started)

        return await self._guard(OSSDownloadResult, f"Download of {where}", run)

    async def iter_object(
        self, bucket: str, object: str, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The object's bytes in order, as chunks (`async for chunk in ...`). Unlike the other
        methods this raises `OssError` (an iterator cannot return a result). Read-ahead is
        bounded (`concurrency + 1` ranges); leaving the loop early stops the transfer."""
        async for chunks in self.iter_ranges(bucket, object, offset, length):
            for chunk in chunks:
                yield chunk

    async def iter_ranges(
        self, bucket: str, object: str, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[list[bytes], None]:
        """`iter_object` a range at a time (lists of chunks): fewer steps for bridges such
        as the blocking facade's iterator."""
        try:
            target, meta, start, count = await self._open_read(bucket, object, offset, length)
            async for chunks in iter_ranges(target, meta, start, count, Progress(None)):
                yield chunks
        except OssError as exc:
            exc.message = self._scrub(exc.message)
            raise

    async def download_bytes(
        self, bucket: str, object: str, *, max_size: int = 64 * 2**20
    ) -> OSSBytesResult:
        """A whole object in memory (`result.data`). Objects over `max_size` bytes are refused
        before any byte moves; a CRC-64 mismatch fetches the object again."""

        async def run() -> OSSBytesResult:
            if not isinstance(max_size, int) or max_size < 0:
                raise InvalidInputError("max_size must be a non-negative int")
            target, meta, _, _ = await self._open_read(bucket, object, 0, None)
            if meta.size > max_size:
                raise InvalidInputError(
                    f"oss://{bucket}/{object} is {meta.size} bytes, over max_size={max_size}",
                    hint="raise max_size, or use download_stream / iter_object / download",
                )
            attempt = 0
            while True:
                parts: list[bytes] = []
                try:
                    async for chunks in iter_ranges(target, meta, 0, meta.size, Progress(None)):
                        parts += chunks
                    break
                except IntegrityError:
                    attempt += 1
                    if attempt > target.core.config.max_retries:
                        raise
            data = b"".join(parts)
            return OSSBytesResult(
                success=True,
                data=data,
                size=len(data),
                etag=meta.etag,
                crc64=meta.crc64,
                content_type=meta.content_type,
                metadata=dict(meta.metadata),
            )

        return await self._guard(OSSBytesResult, f"Download of oss://{bucket}/{object}", run)

    async def _open_read(
        self, bucket: str, object: str, offset: int, length: int | None
    ) -> tuple[ObjectTarget, ObjectMeta, int, int]:
        client = self._require()
        validate_bucket(bucket)
        validate_key(_check_key_arg(object))
        if not isinstance(offset, int) or (length is not None and not isinstance(length, int)):
            raise InvalidInputError("offset and length must be ints")
        target = ObjectTarget(client, bucket, object)
        meta = await target.head()
        try:
            start, count = clamp_range(meta, offset, length)
        except ValueError as exc:
            raise InvalidInputError(f"oss://{bucket}/{object}: {exc}") from None
        return target, meta, start, count

    async def copy(
        self,
        src_bucket: str,
        src_object: str,
        dst_bucket: str,
        dst_object: str,
        *,
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
        cluster: Any = None,
    ) -> OSSCopyResult:
        """Server-side copy (no bytes pass through this machine). A source ending in '/' (or
        empty) is a prefix: every object under it is copied below `dst_object/` (the result
        keeps counts; each copy goes to `on_object`). A destination ending in '/' receives
        the source's name. `cluster`: shard a prefix copy over a Dask cluster."""
        where = f"oss://{src_bucket}/{src_object} to oss://{dst_bucket}/{dst_object}"

        async def run() -> OSSCopyResult:
            started = time.monotonic()
            client = self._require()
            for b in (src_bucket, dst_bucket):
                validate_bucket(b)
            src_key = _check_key_arg(src_object, allow_empty=True)
            dst_key = _check_key_arg(dst_object, allow_empty=True)
            validate_key(src_key, allow_empty=True)
            validate_key(dst_key, allow_empty=True)
            prog = Progress(progress)
            await check_same_region(client, src_bucket, dst_bucket)
            if not src_key or src_key.endswith("/"):
                dst_prefix = dir_prefix(dst_key)
                if (src_bucket, src_key) == (dst_bucket, dst_prefix):
                    raise InvalidInputError(f"copying {where} would change nothing")
                if src_bucket == dst_bucket and dst_prefix.startswith(src_key):
                    # The listing would meet the copies it made (and copy them again).
                    raise InvalidInputError(
                        f"copying {where} would copy the prefix into itself: "
                        f"oss://{dst_bucket}/{dst_prefix} is inside the source",
                        hint="copy to a prefix outside the source, then move it if needed",
                    )
                outcome = Outcome(on_object)
                if cluster is not None:

                    def work(job: Job, _here: str) -> Awaitable[None]:
                        from ..dask import copy_prefix  # imports distributed: only here

                        return copy_prefix(job, src_bucket, src_key, dst_bucket, dst_prefix)

                    await _on_cluster(cluster, client, None, prog, outcome, work)
                else:
                    await copy_prefix(
                        client, src_bucket, src_key, dst_bucket, dst_prefix, prog, outcome
                    )
            else:
                if not dst_key or dst_key.endswith("/"):
                    dst_key += key_basename(src_key)
                validate_key(dst_key)
                src = ObjectTarget(client, src_bucket, src_key)
                meta = await src.head()
                prog.files_total, prog.bytes_total = 1, meta.size
                outcome = Outcome(on_object, keep=True)
                dst = ObjectTarget(client, dst_bucket, dst_key)
                await outcome.add(await copy_object(src, dst, prog, meta))
            return self._transfer_result(OSSCopyResult, "Copy", where, outcome, started)

        return await self._guard(OSSCopyResult, f"Copy of {where}", run)

    async def sync_upload(
        self,
        bucket: str,
        prefix: str,
        path: str,
        *,
        delete: bool = False,
        compare: str = "size_mtime",
        dry_run: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
        on_action: ActionHook | None = None,
        cluster: Any = None,
        force: bool = False,
    ) -> OSSSyncResult:
        """Make oss://bucket/prefix/ hold what the local directory `path` holds: send files
        the bucket lacks or that differ; with `delete=True` delete objects the directory
        lacks. `compare`: "size_mtime" (sizes differ, or the file was modified after the
        object was written: no request per file), "size", or "checksum" (CRC-64 of both
        sides; one HEAD per same-size file). `include` / `exclude`: glob patterns on the
        relative path. `dry_run=True` changes nothing; `on_action` gets every decision.
        `delete=True` with an empty source (after the patterns) is refused: a typo must not
        empty the destination; `force=True` allows it. The
        walk and the listing are merged as two sorted streams: memory does not grow with
        the tree, and a rerun after an interruption sends only what is missing. `cluster`:
        the sends are sharded over a Dask cluster (as for `upload`)."""
        where = f"{path} to oss://{bucket}/{prefix}"

        async def run() -> OSSSyncResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            local = _path_arg(path)
            validate_key(_check_key_arg(prefix, allow_empty=True), allow_empty=True)
            is_dir, _ = await asyncio.to_thread(_files.stat_source, local)
            if not is_dir:
                raise InvalidInputError(
                    f"{local} is a file; sync_upload takes a directory",
                    hint="use upload() for one file",
                )
            opts = _sync_options(delete, compare, dry_run, include, exclude, on_action, force)
            outcome, counts = Outcome(on_object), SyncCounts()
            pre, prog = dir_prefix(prefix), Progress(progress)
            # A dry run sends nothing: decided here, with no probe file written into the
            # directory and no destination created on the workers' behalf.
            if cluster is not None and not dry_run:

                def work(job: Job, here: str) -> Awaitable[None]:
                    from ..dask import sync_upload  # imports distributed: only here

                    return sync_upload(job, bucket, pre, here, opts, counts)

                await _on_cluster(cluster, client, local, prog, outcome, work)
            else:
                await sync_upload(client, bucket, pre, local, opts, prog, outcome, counts)
            return self._sync_result(where, outcome, counts, opts, started)

        return await self._guard(OSSSyncResult, f"Sync of {where}", run)

    async def sync_download(
        self,
        bucket: str,
        prefix: str,
        path: str,
        *,
        delete: bool = False,
        compare: str = "size_mtime",
        dry_run: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
        on_action: ActionHook | None = None,
        cluster: Any = None,
        force: bool = False,
    ) -> OSSSyncResult:
        """Make the local directory `path` hold what oss://bucket/prefix/ holds (the mirror
        of `sync_upload`, same options). "size_mtime" compares a same-size file's mtime with
        the object's x-oss-meta-mtime (which uploads store and downloads restore, to the
        nanosecond), or with its Last-Modified (whole seconds) for objects other tools wrote:
        one HEAD per same-size object. `delete=True` removes local files the prefix lacks.
        `cluster`: the sends are sharded over a Dask cluster (as for `download`)."""
        where = f"oss://{bucket}/{prefix} to {path}"

        async def run() -> OSSSyncResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            root = Path(_path_arg(path))
            validate_key(_check_key_arg(prefix, allow_empty=True), allow_empty=True)
            if await asyncio.to_thread(root.is_file):
                raise InvalidInputError(
                    f"{root} is a file; sync_download takes a directory",
                    hint="use download() for one object",
                )
            opts = _sync_options(delete, compare, dry_run, include, exclude, on_action, force)
            outcome, counts = Outcome(on_object), SyncCounts()
            pre, prog = dir_prefix(prefix), Progress(progress)
            # A dry run sends nothing: decided here, with no probe file written into the
            # directory and no destination created on the workers' behalf.
            if cluster is not None and not dry_run:

                def work(job: Job, here: str) -> Awaitable[None]:
                    from ..dask import sync_download  # imports distributed: only here

                    return sync_download(job, bucket, pre, Path(here), opts, counts)

                await _on_cluster(cluster, client, str(root), prog, outcome, work, create=True)
            else:
                await sync_download(client, bucket, pre, root, opts, prog, outcome, counts)
            return self._sync_result(where, outcome, counts, opts, started)

        return await self._guard(OSSSyncResult, f"Sync of {where}", run)

    def _sync_result(
        self, where: str, outcome: Outcome, counts: SyncCounts, opts: SyncOptions, started: float
    ) -> OSSSyncResult:
        dry_run, filtered = opts.dry_run, opts.chosen.active
        verb = "Sync (dry run)" if dry_run else "Sync"
        result = self._transfer_result(OSSSyncResult, verb, where, outcome, started)
        result.skipped, result.deleted, result.dry_run = counts.skipped, counts.deleted, dry_run
        if result.success:
            result.content += f"; {counts.skipped} unchanged, {counts.deleted} deleted"
            if counts.source == 0 and filtered:  # (not an error, as in rsync, aws s3, rclone)
                result.content += "; no file matched the include / exclude patterns"
        return result

    async def upload_anonymous(
        self,
        url: str,
        path: str,
        *,
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
    ) -> OSSUploadResult:
        """PUT a file to a URL (presigned or public-write); a directory only to a URL without
        a query (each file at url/relative/path)."""
        where = f"{path} to {_url_label(url)}"

        async def run() -> OSSUploadResult:
            started = time.monotonic()
            self._require_open()
            target = UrlTarget(self._session.core, url)
            local = _path_arg(path)
            is_dir, info = await asyncio.to_thread(_files.stat_source, local)
            prog = Progress(progress)
            outcome = Outcome(on_object, keep=not is_dir)
            if not is_dir:
                prog.files_total, prog.bytes_total = 1, info.size
                await outcome.add(await upload_file(target, local, info, prog))
            elif urlsplit(url).query:
                raise InvalidInputError(
                    f"{local} is a directory but the URL has a query string: a presigned URL "
                    "names one object",
                    hint="upload a single file to a presigned URL, or a directory to a "
                    "public-write bucket URL without a query",
                )
            else:
                workers = self._session.config.concurrency * 2
                await upload_dir(target.child, local, prog, workers, outcome)
            return self._transfer_result(OSSUploadResult, "Upload", where, outcome, started)

        return await self._guard(OSSUploadResult, f"Upload of {where}", run)

    async def download_anonymous(
        self, url: str, path: str, *, progress: ProgressHook | None = None
    ) -> OSSDownloadResult:
        """GET a URL to `path` (or into it when it is a directory: the name comes from
        Content-Disposition or the URL path). Same ranged, resumable, CRC-checked path as
        `download`; the first request asks for the first range and learns the size."""
        where = f"{_url_label(url)} to {path}"

        async def run() -> OSSDownloadResult:
            started = time.monotonic()
            self._require_open()
            target = UrlTarget(self._session.core, url)
            local = _path_arg(path)
            prog = Progress(progress)

            def dest_for(headers: Mapping[str, str]) -> Path:
                return _resolve_dest(local, target.file_name(headers.get("Content-Disposition")))

            kind, _ = await asyncio.to_thread(_files.dest_kind, Path(local))
            outcome = Outcome(keep=True)
            if kind == "stream":  # a device or FIFO: no probe that would write a temp file
                prog.files_total = 1
                meta = await _url_meta(target)
                prog.bytes_total = meta.size
                await outcome.add(await download_to_stream_file(target, Path(local), meta, prog))
            else:
                got = await probe_url(target, dest_for, prog)
                if isinstance(got, TransferredObject):
                    await prog.file_done(target.where)
                    await outcome.add(got)
                else:
                    dest, probe = got
                    await outcome.add(await _download_to(target, dest, prog, probe.meta, probe))
            return self._transfer_result(OSSDownloadResult, "Download", where, outcome, started)

        return await self._guard(OSSDownloadResult, f"Download of {where}", run)

    def _require_open(self) -> None:
        if self._session.deleted:
            raise SessionClosedError(
                "this session was deleted", hint="create a new session with AsyncAgentBay.create()"
            )

    # -- helpers for the CLI

    async def list_objects(
        self, bucket: str, prefix: str = "", delimiter: str | None = None
    ) -> ListObjectsResult:
        """All objects under `prefix` (pages followed); with a delimiter also common prefixes.
        Holds the whole listing: for big prefixes iterate `iter_objects` instead."""

        async def run() -> ListObjectsResult:
            client = self._require()
            validate_bucket(bucket)
            validate_key(_check_key_arg(prefix, allow_empty=True), allow_empty=True)
            entries: list[ObjectEntry] = []
            prefixes: list[str] = []
            async for page in client.iter_list(bucket, prefix, delimiter):
                got = _page_result(page)
                entries += got.entries
                prefixes += got.common_prefixes
            return ListObjectsResult(success=True, entries=entries, common_prefixes=prefixes)

        return await self._guard(ListObjectsResult, f"Listing oss://{bucket}/{prefix}", run)

    async def iter_objects(
        self, bucket: str, prefix: str = "", delimiter: str | None = None
    ) -> AsyncGenerator[ListObjectsResult, None]:
        """The listing a page (up to 1,000 entries) at a time, the next page read while the
        caller works: memory does not grow with the listing. Raises `OssError` (an iterator
        cannot return a failed result)."""
        client = self._require()
        validate_bucket(bucket)
        validate_key(_check_key_arg(prefix, allow_empty=True), allow_empty=True)
        try:
            async for page in client.iter_list(bucket, prefix, delimiter):
                yield _page_result(page)
        except OssError as exc:
            exc.message = self._scrub(exc.message)
            raise

    async def delete_objects(
        self, bucket: str, key: str, recursive: bool = False
    ) -> DeleteObjectsResult:
        """Delete `key`; with recursive=True also every object under `key/` (DeleteMultipleObjects,
        1,000 keys a request, each page deleted while the next one is listed)."""

        async def run() -> DeleteObjectsResult:
            client = self._require()
            validate_bucket(bucket)
            validate_key(_check_key_arg(key, allow_empty=recursive), allow_empty=recursive)
            if not recursive:
                await client.simple("DELETE", bucket, key, ok=(200, 204))
                return DeleteObjectsResult(success=True, deleted=[key])
            # `key` itself (if it exists) and everything below `key/`, not `key2`.
            below = key if not key or key.endswith("/") else key + "/"
            deleted: list[str] = []
            async for page in client.iter_list(bucket, key):
                keys = [e.key for e in page.entries if e.key == key or e.key.startswith(below)]
                if keys:
                    await client.delete_batch(bucket, keys)
                    deleted += keys
            return DeleteObjectsResult(success=True, deleted=deleted)

        return await self._guard(DeleteObjectsResult, f"Deleting oss://{bucket}/{key}", run)

    async def presign(self, bucket: str, key: str, method: str = "GET", expires: int = 3600) -> str:
        """A presigned URL (V4 or V1 as configured by env_init). The one helper that raises
        (`OssError` on bad input) instead of returning a result, in both APIs alike."""
        client = self._require()
        validate_bucket(bucket)
        validate_key(key)
        method = method.upper()
        if method not in ("GET", "PUT", "HEAD", "DELETE", "POST"):
            raise InvalidInputError(f"cannot presign method {method!r}")
        if not isinstance(expires, int) or not 1 <= expires <= 7 * 24 * 3600:
            raise InvalidInputError("expires must be 1..604800 seconds")
        creds = await client._current_creds()
        if client.signature_version == "v4":
            pairs = presign_v4_query(
                creds,
                client.endpoint.region,
                method,
                bucket,
                key,
                expires,
                datetime.now(timezone.utc),
            )
        else:
            pairs = presign_v1_query(creds, method, bucket, key, int(time.time()) + expires)
        return client.url(bucket, key) + "?" + encode_query(pairs)


async def _on_cluster(
    cluster: Any,
    client: OssClient,
    path: str | None,
    progress: Progress,
    outcome: Outcome,
    work: Callable[[Job, str], Awaitable[None]],
    create: bool = False,
) -> None:
    """Run `work(job, absolute path)` on the cluster; `create`: make the directory first (a
    download's destination, which the workers' probe then reads)."""
    here = ""
    if path is not None:
        here = await asyncio.to_thread(os.path.abspath, path)
        if create:
            await asyncio.to_thread(_files.make_dirs, Path(here))
    from ..dask import on_cluster  # imports distributed: only when cluster= is given

    await on_cluster(
        cluster, client, here if path is not None else None, progress, outcome,
        lambda job: work(job, here),
    )  # fmt: skip


async def _download_to(
    target: Target, dest: Path, prog: Progress, meta: ObjectMeta, probe: Probe | None = None
) -> TransferredObject:
    """One object to the path the caller named: a symlink is followed, a device or FIFO is
    written as a stream, anything else lands by temp file and atomic rename."""
    kind, real = await asyncio.to_thread(_files.dest_kind, dest)
    if kind == "stream":
        head = probe.head if probe is not None else b""
        return await download_to_stream_file(target, real, meta, prog, head)
    return await download_object(target, real, prog, meta=meta, probe=probe)


async def _url_meta(target: UrlTarget) -> ObjectMeta:
    """Size, ETag and CRC of a URL's object from a one-byte ranged GET."""

    async def op() -> ObjectMeta:
        async with target.request("GET", headers={"Range": "bytes=0-0"}, ok=(200, 206)) as r:
            if r.status == 200:
                return ObjectMeta.from_headers(r.headers, r.content_length or 0)
            return meta_from_range_reply(r.headers, target.where)[0]

    return await target.retry(op, f"GET {target.where}")


def _writer_of(writer: Any) -> Callable[[list[bytes]], Awaitable[None]]:
    """An async `write(chunks)` over a binary writable; blocking writes go to a thread."""
    write = getattr(writer, "write", None)
    if write is None or not callable(write):
        raise InvalidInputError(
            f"cannot write into a {type(writer).__name__}",
            hint="pass a binary writable: an object with write(bytes)",
        )
    if getattr(writer, "closed", False) is True:
        raise InvalidInputError("the writer is closed", hint="pass an open writable")
    if inspect.iscoroutinefunction(write):

        async def write_async(chunks: list[bytes]) -> None:
            for c in chunks:
                await write(c)

        return write_async

    def write_all(chunks: list[bytes]) -> None:
        for c in chunks:
            n = write(c)
            if n is not None and n < len(c):  # a raw stream took part: write the rest
                view = memoryview(c)[n:]
                while view:
                    view = view[write(view) or 0 :]

    async def write_sync(chunks: list[bytes]) -> None:
        await asyncio.to_thread(write_all, chunks)

    return write_sync


def _sync_options(
    delete: bool,
    compare: str,
    dry_run: bool,
    include: Sequence[str],
    exclude: Sequence[str],
    on_action: ActionHook | None,
    force: bool,
) -> SyncOptions:
    return SyncOptions(
        bool(delete),
        check_compare(compare),
        bool(dry_run),
        PathFilter.of(include, exclude),
        on_action,
        bool(force),
    )


def _page_result(page: ListPage) -> ListObjectsResult:
    return ListObjectsResult(
        success=True,
        entries=[
            ObjectEntry(key=e.key, size=e.size, etag=e.etag, last_modified=e.last_modified)
            for e in page.entries
        ],
        common_prefixes=page.common_prefixes,
    )


def _resolve_dest(path: str, name: str) -> Path:
    dest = Path(path)
    if path.endswith(("/", os.sep)) or dest.is_dir():
        if not name:
            raise InvalidInputError(
                f"cannot tell a file name for the download into directory {path}",
                hint="pass a file path instead of a directory",
            )
        return dest / name
    return dest


def _url_label(url: Any) -> str:
    return safe_url(url) if isinstance(url, str) else repr(url)


def _cancel_requested() -> bool:
    """Whether the current task itself is being cancelled (Python >= 3.11 can tell)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


def _check_key_arg(key: Any, allow_empty: bool = False) -> str:
    if not isinstance(key, str):
        raise InvalidInputError(f"object key must be a string, got {type(key).__name__}")
    if not key and not allow_empty:
        raise InvalidInputError("the object key is empty", hint="pass a key such as 'dir/file'")
    return key


class AsyncSession:
    """One session: its own connection pool and request limit. `async with` deletes it."""

    def __init__(self, config: TransferConfig, agent_bay: AsyncAgentBay | None = None) -> None:
        self.session_id = "s-" + uuid.uuid4().hex[:16]
        self.config = config
        self.core = HttpCore(config)
        self.oss = AsyncOss(self)
        self._agent_bay = agent_bay
        self._running: set[asyncio.Future[Any]] = set()  # operations in flight (AsyncOss._guard)
        self._deleting = False

    def __repr__(self) -> str:
        return f"<AsyncSession {self.session_id}{' deleted' if self.deleted else ''}>"

    @property
    def deleted(self) -> bool:
        return self._deleting or self.core.closed

    async def delete(self) -> ApiResponse:
        """Stop the operations still running (each aborts its multipart upload or removes its
        temp file, which needs the connections, and reports failure), then close the
        connections; the session cannot be used afterwards."""
        try:
            self._deleting = True
            me = asyncio.current_task()
            running = [t for t in self._running if t is not me]
            for t in running:
                t.cancel()
            if running:
                await asyncio.wait(running)
            await self.core.close()
            if self._agent_bay is not None:
                self._agent_bay._sessions.discard(self)
            return ApiResponse(success=True, request_id=self.session_id)
        except Exception as exc:
            return ApiResponse(success=False, error_message=f"deleting the session failed: {exc}")

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.delete()


class AsyncAgentBay:
    """Entry point: `await AsyncAgentBay(config).create()` gives a SessionResult."""

    def __init__(self, config: TransferConfig | Mapping[str, Any] | None = None) -> None:
        self._config_error = ""
        self.config: TransferConfig | None
        if config is None:
            self.config = TransferConfig()
        elif isinstance(config, TransferConfig):
            self.config = config
        else:
            try:
                self.config = TransferConfig.model_validate(dict(config))
            except ValidationError as exc:
                self.config = None
                self._config_error = describe_validation_error(exc)
            except (TypeError, ValueError) as exc:
                self.config = None
                self._config_error = f"invalid TransferConfig: {exc}"
        self._sessions: set[AsyncSession] = set()

    async def create(self) -> SessionResult:
        if self.config is None:
            return SessionResult(
                success=False,
                error_message=self._config_error + " (fix the TransferConfig values)",
            )
        session = AsyncSession(self.config, self)
        self._sessions.add(session)
        return SessionResult(success=True, session=session, request_id=session.session_id)

    async def close(self) -> None:
        for s in list(self._sessions):
            await s.delete()

    async def __aenter__(self) -> AsyncAgentBay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["AsyncAgentBay", "AsyncOss", "AsyncSession", "OssError"]
