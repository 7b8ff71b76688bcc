"""`AgentBay`, `Session`, `Oss`: the async API, blocking.

Every method hands its coroutine to the async object on the private loop thread
(`agentbay_oss.sync._portal`) and waits; there is no transfer logic here. Signatures and results
are those of `AsyncAgentBay`, `AsyncSession` and `AsyncOss` (a test compares them), and the
docstrings are copied from there, so the two APIs cannot drift apart.

A progress hook passed to a blocking call runs on the loop thread: keep it quick, and do not
make blocking agentbay_oss calls from it (that is refused with a RuntimeError).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, TypeVar

from agentbay_oss.aio import (
    ActionHook,
    AsyncAgentBay,
    AsyncOss,
    AsyncSession,
    CredentialsProvider,
    ObjectHook,
    ProgressHook,
)
from agentbay_oss.config import TransferConfig
from agentbay_oss.errors import OssError
from agentbay_oss.models import (
    ApiResponse,
    DeleteObjectsResult,
    ListObjectsResult,
    OSSBytesResult,
    OSSClientResult,
    OSSCopyResult,
    OSSDownloadResult,
    OSSSyncResult,
    OSSUploadResult,
    SessionResult,
)

from ._portal import portal, run

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


def _bridge(agen: AsyncGenerator[T, None]) -> Iterator[T]:
    """An async generator on the loop thread as a plain iterator. Closing it (or dropping it)
    closes the async one on the loop, which stops its read-ahead."""
    try:
        while True:
            try:
                item = _call(_next(agen))
            except StopAsyncIteration:
                return
            yield item
    finally:
        run(agen.aclose())


# The async objects the facade created and has not closed yet: closed when the portal shuts
# down at exit, so no "Unclosed client session" noise; weak so dropping a facade frees it.
_open: weakref.WeakSet[AsyncAgentBay] = weakref.WeakSet()


async def _close_leftovers() -> None:
    for agent_bay in list(_open):
        await agent_bay.close()


# Deletes of sessions whose blocking facade was garbage-collected undeleted, still running.
_background: set[asyncio.Task[ApiResponse]] = set()


def _delete_in_background(async_session: AsyncSession) -> None:
    """Finalizer of a dropped `Session`: delete its async session on the loop, without waiting."""
    if async_session.deleted or not portal().running:
        return
    loop = portal().loop()

    def start() -> None:
        task = loop.create_task(async_session.delete())
        _background.add(task)
        task.add_done_callback(_background.discard)

    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_soon_threadsafe(start)


if hasattr(os, "register_at_fork"):
    # A child must not close the parent's connections (they belong to the parent's loop).
    os.register_at_fork(after_in_child=_open.clear)


def _mirror(async_method: Callable[..., Any]) -> Callable[[F], F]:
    """Give the blocking method the async method's docstring."""

    def decorate(method: F) -> F:
        method.__doc__ = async_method.__doc__
        return method

    return decorate


def _blocking_names(text: str) -> str:
    """The async core's hints name the class its users call; a blocking user calls AgentBay."""
    return text.replace("AsyncAgentBay.create()", "AgentBay().create()")


def _rename(error: OssError) -> None:
    error.message = _blocking_names(error.message)
    error.hint = _blocking_names(error.hint)


def _call(coro: Coroutine[Any, Any, T]) -> T:
    """`run(coro)`, with a failure's message and error speaking of the blocking classes."""
    try:
        result = run(coro)
    except OssError as exc:  # presign and the iterators raise
        _rename(exc)
        raise
    if isinstance(result, ApiResponse) and not result.success:
        result.error_message = _blocking_names(result.error_message)
        if result.error is not None:
            _rename(result.error)
    return result


class Oss:
    """Blocking twin of `agentbay_oss.aio.AsyncOss`."""

    __slots__ = ("_async",)

    def __init__(self, async_oss: AsyncOss) -> None:
        self._async = async_oss

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncOss", "Oss", 1)

    @property
    def async_oss(self) -> AsyncOss:
        """The `AsyncOss` this object drives (for code that mixes both APIs)."""
        return self._async

    @_mirror(AsyncOss.env_init)
    def env_init(
        self,
        access_key_id: str,
        access_key_secret: str,
        securityToken: str | None = None,  # the seed API spells it so
        endpoint: str | None = None,
        region: str | None = None,
        *,
        security_token: str | None = None,
        signature_version: str = "v4",
        credentials_provider: CredentialsProvider | None = None,
    ) -> OSSClientResult:
        return _call(
            self._async.env_init(
                access_key_id,
                access_key_secret,
                securityToken,
                endpoint,
                region,
                security_token=security_token,
                signature_version=signature_version,
                credentials_provider=credentials_provider,
            )
        )

    @_mirror(AsyncOss.upload)
    def upload(
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
        return _call(
            self._async.upload(
                bucket, object, path, content_type=content_type, metadata=metadata,
                include=include, exclude=exclude, progress=progress, on_object=on_object,
                cluster=cluster,
            )
        )  # fmt: skip

    @_mirror(AsyncOss.upload_stream)
    def upload_stream(
        self,
        bucket: str,
        object: str,
        source: Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        progress: ProgressHook | None = None,
    ) -> OSSUploadResult:
        return _call(
            self._async.upload_stream(
                bucket, object, source, content_type=content_type, metadata=metadata,
                progress=progress,
            )
        )  # fmt: skip

    @_mirror(AsyncOss.download_stream)
    def download_stream(
        self,
        bucket: str,
        object: str,
        writer: Any,
        *,
        offset: int = 0,
        length: int | None = None,
        progress: ProgressHook | None = None,
    ) -> OSSDownloadResult:
        return _call(
            self._async.download_stream(
                bucket, object, writer, offset=offset, length=length, progress=progress
            )
        )

    @_mirror(AsyncOss.iter_object)
    def iter_object(
        self, bucket: str, object: str, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        for chunks in self.iter_ranges(bucket, object, offset, length):
            yield from chunks

    @_mirror(AsyncOss.iter_ranges)
    def iter_ranges(
        self, bucket: str, object: str, offset: int = 0, length: int | None = None
    ) -> Iterator[list[bytes]]:
        # One loop round trip per range, not per chunk.
        return _bridge(self._async.iter_ranges(bucket, object, offset, length))

    @_mirror(AsyncOss.download_bytes)
    def download_bytes(
        self, bucket: str, object: str, *, max_size: int = 64 * 2**20
    ) -> OSSBytesResult:
        return _call(self._async.download_bytes(bucket, object, max_size=max_size))

    @_mirror(AsyncOss.copy)
    def copy(
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
        return _call(
            self._async.copy(
                src_bucket, src_object, dst_bucket, dst_object, progress=progress,
                on_object=on_object, cluster=cluster,
            )
        )  # fmt: skip

    @_mirror(AsyncOss.sync_upload)
    def sync_upload(
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
        return _call(
            self._async.sync_upload(
                bucket, prefix, path, delete=delete, compare=compare, dry_run=dry_run,
                include=include, exclude=exclude, progress=progress, on_object=on_object,
                on_action=on_action, cluster=cluster, force=force,
            )
        )  # fmt: skip

    @_mirror(AsyncOss.sync_download)
    def sync_download(
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
        return _call(
            self._async.sync_download(
                bucket, prefix, path, delete=delete, compare=compare, dry_run=dry_run,
                include=include, exclude=exclude, progress=progress, on_object=on_object,
                on_action=on_action, cluster=cluster, force=force,
            )
        )  # fmt: skip

    @_mirror(AsyncOss.upload_anonymous)
    def upload_anonymous(
        self,
        url: str,
        path: str,
        *,
        progress: ProgressHook | None = None,
        on_object: ObjectHook | None = None,
    ) -> OSSUploadResult:
        return _call(
            self._async.upload_anonymous(url, path, progress=progress, on_object=on_object)
        )

    @_mirror(AsyncOss.download)
    def download(
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
        return _call(
            self._async.download(
                bucket, object, path, include=include, exclude=exclude, progress=progress,
                on_object=on_object, cluster=cluster,
            )
        )  # fmt: skip

    @_mirror(AsyncOss.download_anonymous)
    def download_anonymous(
        self, url: str, path: str, *, progress: ProgressHook | None = None
    ) -> OSSDownloadResult:
        return _call(self._async.download_anonymous(url, path, progress=progress))

    @_mirror(AsyncOss.list_objects)
    def list_objects(
        self, bucket: str, prefix: str = "", delimiter: str | None = None
    ) -> ListObjectsResult:
        return _call(self._async.list_objects(bucket, prefix, delimiter))

    @_mirror(AsyncOss.iter_objects)
    def iter_objects(
        self, bucket: str, prefix: str = "", delimiter: str | None = None
    ) -> Iterator[ListObjectsResult]:
        return _bridge(self._async.iter_objects(bucket, prefix, delimiter))

    @_mirror(AsyncOss.delete_objects)
    def delete_objects(self, bucket: str, key: str, recursive: bool = False) -> DeleteObjectsResult:
        return _call(self._async.delete_objects(bucket, key, recursive))

    @_mirror(AsyncOss.presign)
    def presign(self, bucket: str, key: str, method: str = "GET", expires: int = 3600) -> str:
        return _call(self._async.presign(bucket, key, method, expires))


class Session:
    """Blocking twin of `agentbay_oss.aio.AsyncSession`."""

    __slots__ = ("__weakref__", "_async", "oss")

    def __init__(self, async_session: AsyncSession) -> None:
        self._async = async_session
        self.oss = Oss(async_session.oss)
        # Dropping the last reference without delete() still releases the connections. At
        # exit the portal closes what is left instead (atexit=False avoids a race with it).
        weakref.finalize(self, _delete_in_background, async_session).atexit = False

    @property
    def async_session(self) -> AsyncSession:
        return self._async

    @property
    def session_id(self) -> str:
        return self._async.session_id

    @property
    def config(self) -> TransferConfig:
        return self._async.config

    @property
    def deleted(self) -> bool:
        """True once `delete()` ran: the session's methods then return failed results."""
        return self._async.deleted

    def __repr__(self) -> str:
        return f"<Session {self.session_id}{' deleted' if self.deleted else ''}>"

    @_mirror(AsyncSession.delete)
    def delete(self) -> ApiResponse:
        return run(self._async.delete())

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.delete()


class AgentBay:
    """Blocking twin of `agentbay_oss.aio.AsyncAgentBay`."""

    __slots__ = ("__weakref__", "_async")

    def __init__(self, config: TransferConfig | Mapping[str, Any] | None = None) -> None:
        self._async = AsyncAgentBay(config=config)
        _open.add(self._async)
        portal().register_closer(_open, _close_leftovers)

    @property
    def async_agent_bay(self) -> AsyncAgentBay:
        return self._async

    @property
    def config(self) -> TransferConfig | None:
        """The validated TransferConfig (None when the one given was invalid)."""
        return self._async.config

    @_mirror(AsyncAgentBay.create)
    def create(self) -> SessionResult:
        result = run(self._async.create())
        if result.session is None:
            return result
        # The same model, holding the blocking twin (model_copy: no re-validation of the field).
        return result.model_copy(update={"session": Session(result.session)})

    @_mirror(AsyncAgentBay.close)
    def close(self) -> None:
        _open.discard(self._async)
        run(self._async.close())

    def __enter__(self) -> AgentBay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
