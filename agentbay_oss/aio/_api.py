"""Public async API: AsyncAgentBay -> AsyncSession -> AsyncOss.

AsyncOss is the boundary: typed exceptions inside, result models outside. Nothing but
CancelledError / KeyboardInterrupt escapes its methods (after cleanup).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from ..config import TransferConfig, describe_validation_error
from ..errors import (
    InvalidInputError,
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
    OSSClientResult,
    OSSDownloadResult,
    OSSUploadResult,
    SessionResult,
)
from ..protocol.keys import key_basename, upload_key, validate_bucket, validate_key
from ..protocol.signing import Credentials, encode_query, presign_v1_query, presign_v4_query
from . import _files
from ._anonymous import download_url, upload_url
from ._client import CredentialsProvider, HttpCore, OssClient, parse_endpoint, safe_url
from ._common import Outcome, Progress, ProgressHook, run_pool
from ._download import download_object, download_prefix
from ._errors import from_exception
from ._upload import upload_dir, upload_file

log = logging.getLogger("agentbay_oss.aio")
R = TypeVar("R", bound=ApiResponse)
TR = TypeVar("TR", OSSUploadResult, OSSDownloadResult)
_MAX_LISTED_ERRORS = 10


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
        files = sum(1 for o in outcome.objects if not o.key.endswith("/"))
        fields: dict[str, Any] = {
            "files": files,
            "bytes": outcome.bytes,
            "elapsed": elapsed,
            "objects": outcome.objects,
        }
        if outcome.errors:
            shown = "; ".join(f"{w}: {e}" for w, e in outcome.errors[:_MAX_LISTED_ERRORS])
            more = len(outcome.errors) - _MAX_LISTED_ERRORS
            if more > 0:
                shown += f"; and {more} more"
            message = self._scrub(
                f"{verb} {where} failed for {len(outcome.errors)} item(s) "
                f"({files} file(s) transferred): {shown}"
            )
            result = cls(success=False, error_message=message, **fields)
            result._error = outcome.errors[0][1]
            return result
        rate = outcome.bytes / elapsed / 1e6 if elapsed > 0 else 0.0
        content = (
            f"{verb} success: {files} file(s), {_human(outcome.bytes)} {where} "
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
        self, bucket: str, object: str, path: str, *, progress: ProgressHook | None = None
    ) -> OSSUploadResult:
        """Upload a file (to `object`, or `object + name` if it ends with '/') or a directory
        (under prefix `object/`)."""
        where = f"{path} to oss://{bucket}/{object}"

        async def run() -> OSSUploadResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            local = _path_arg(path)
            is_dir, info = await asyncio.to_thread(_files.stat_source, local)
            prog = Progress(progress)
            if is_dir:
                validate_key(object, allow_empty=True)
                outcome = await upload_dir(client, bucket, object, local, prog)
            else:
                key = upload_key(_check_key_arg(object), Path(local))
                validate_key(key)
                prog.files_total, prog.bytes_total = 1, info.size
                outcome = Outcome()
                outcome.add(await upload_file(client, bucket, key, local, info, prog))
            return self._transfer_result(OSSUploadResult, "Upload", where, outcome, started)

        return await self._guard(OSSUploadResult, f"Upload of {where}", run)

    async def download(
        self, bucket: str, object: str, path: str, *, progress: ProgressHook | None = None
    ) -> OSSDownloadResult:
        """Download an object to `path` (or into it if it is a directory), or a whole prefix
        (`object` ending with '/', or naming no object but having objects below it)."""
        where = f"oss://{bucket}/{object} to {path}"

        async def run() -> OSSDownloadResult:
            started = time.monotonic()
            client = self._require()
            validate_bucket(bucket)
            local = _path_arg(path)
            validate_key(_check_key_arg(object, allow_empty=True), allow_empty=True)
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
                outcome = await download_prefix(client, bucket, prefix, root, prog)
            else:
                assert meta is not None
                dest = Path(local)
                if local.endswith(("/", os.sep)) or await asyncio.to_thread(dest.is_dir):
                    dest = dest / key_basename(object)
                prog.files_total, prog.bytes_total = 1, meta.size
                outcome = Outcome()
                outcome.add(await download_object(client, bucket, object, dest, prog, meta=meta))
            return self._transfer_result(OSSDownloadResult, "Download", where, outcome, started)

        return await self._guard(OSSDownloadResult, f"Download of {where}", run)

    async def upload_anonymous(
        self, url: str, path: str, *, progress: ProgressHook | None = None
    ) -> OSSUploadResult:
        """PUT a file to a URL (presigned or public-write); a directory only to a URL without
        a query (each file at url/relative/path)."""
        where = f"{path} to {_url_label(url)}"

        async def run() -> OSSUploadResult:
            started = time.monotonic()
            self._require_open()
            outcome = await upload_url(self._session.core, url, _path_arg(path), Progress(progress))
            return self._transfer_result(OSSUploadResult, "Upload", where, outcome, started)

        return await self._guard(OSSUploadResult, f"Upload of {where}", run)

    async def download_anonymous(
        self, url: str, path: str, *, progress: ProgressHook | None = None
    ) -> OSSDownloadResult:
        """GET a URL to `path` (or into it when it is a directory: the name comes from
        Content-Disposition or the URL path)."""
        where = f"{_url_label(url)} to {path}"

        async def run() -> OSSDownloadResult:
            started = time.monotonic()
            self._require_open()
            outcome = await download_url(
                self._session.core, url, _path_arg(path), Progress(progress)
            )
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
        """All objects under `prefix` (pages followed); with a delimiter also common prefixes."""

        async def run() -> ListObjectsResult:
            client = self._require()
            validate_bucket(bucket)
            validate_key(_check_key_arg(prefix, allow_empty=True), allow_empty=True)
            entries: list[ObjectEntry] = []
            prefixes: list[str] = []
            async for page in client.iter_list(bucket, prefix, delimiter):
                entries += [
                    ObjectEntry(key=e.key, size=e.size, etag=e.etag, last_modified=e.last_modified)
                    for e in page.entries
                ]
                prefixes += page.common_prefixes
            return ListObjectsResult(success=True, entries=entries, common_prefixes=prefixes)

        return await self._guard(ListObjectsResult, f"Listing oss://{bucket}/{prefix}", run)

    async def delete_objects(
        self, bucket: str, key: str, recursive: bool = False
    ) -> DeleteObjectsResult:
        """Delete `key`; with recursive=True also every object under `key/`."""

        async def run() -> DeleteObjectsResult:
            client = self._require()
            validate_bucket(bucket)
            validate_key(_check_key_arg(key, allow_empty=recursive), allow_empty=recursive)
            keys: list[str] = [] if recursive else [key]
            if recursive:
                # `key` itself (if it exists) and everything below `key/`, not `key2`.
                below = key if not key or key.endswith("/") else key + "/"
                async for page in client.iter_list(bucket, key):
                    keys += [e.key for e in page.entries if e.key == key or e.key.startswith(below)]

            async def delete(k: str) -> str:
                await client.simple("DELETE", bucket, k, ok=(200, 204))
                return k

            deleted = await run_pool(keys, client.core.config.concurrency, delete)
            return DeleteObjectsResult(success=True, deleted=deleted)

        return await self._guard(DeleteObjectsResult, f"Deleting oss://{bucket}/{key}", run)

    async def presign(self, bucket: str, key: str, method: str = "GET", expires: int = 3600) -> str:
        """A presigned URL (V4 or V1 as configured by env_init). Raises OssError on bad input."""
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
