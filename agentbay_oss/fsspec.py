"""`oss://` for the fsspec ecosystem: `OssFileSystem`, an `fsspec.asyn.AsyncFileSystem` on the
engine (`agentbay_oss.aio.engine`).

    import pandas as pd
    df = pd.read_parquet("oss://bucket/x.parquet", storage_options={
        "endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "key": "...", "secret": "...",
        "token": "...",  # STS, optional
    })

Registered as protocol `oss` through the `fsspec.specs` entry point. Options carry ossfs's names
(`endpoint`, `key`, `secret`, `token`, `default_cache_type`, `default_block_size`) plus
`region`, `signature_version` and every `TransferConfig` field (`part_size`, `concurrency`,
...). With no credentials given, the CLI's environment variables are read (`OSS_ACCESS_KEY_ID`,
`OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`, `OSS_ENDPOINT`, `OSS_REGION`).

Paths are `bucket/key`. Directories are what OSS shows: common prefixes of a `/` listing and
`dir/` marker objects (`mkdir` writes one). Each instance owns one session (connection pool,
`concurrency` request slots) on the loop it runs on: fsspec's IO thread, or the caller's loop
with `asynchronous=True`. Only this module imports fsspec; the rest of the package never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from fsspec.asyn import AsyncFileSystem, sync, sync_wrapper
from fsspec.caching import BaseCache, register_cache
from fsspec.spec import AbstractBufferedFile, make_instance
from pydantic import ValidationError

from .aio import AsyncAgentBay, AsyncSession, ProgressEvent
from .aio.engine import Engine, ListPage, ObjectMeta, ObjectTarget, run_pool
from .config import TransferConfig, describe_validation_error
from .errors import AuthError, NotFoundError, OssError
from .protocol.signing import mask_secret

log = logging.getLogger("agentbay_oss.fsspec")

CONFIG_FIELDS = tuple(TransferConfig.model_fields)
TAIL = 64 * 1024  # bytes of an object's end kept once read (Parquet / ORC footers)
MARKER_TYPE = "application/x-directory"

ENV_KEY = "OSS_ACCESS_KEY_ID"
ENV_SECRET = "OSS_ACCESS_KEY_SECRET"
ENV_TOKENS = ("OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN")
ENV_ENDPOINT = "OSS_ENDPOINT"
ENV_REGION = "OSS_REGION"


# ---------------------------------------------------------------------------- errors


def _os_error(exc: OssError, path: str) -> Exception:
    """The OSError fsspec callers expect for `exc` (others stay OssError)."""
    if isinstance(exc, NotFoundError):
        return FileNotFoundError(errno.ENOENT, str(exc), path)
    if exc.code == "FileAlreadyExists":
        return FileExistsError(errno.EEXIST, str(exc), path)
    if isinstance(exc, AuthError):
        return PermissionError(errno.EACCES, str(exc), path)
    return exc


@contextlib.contextmanager
def _translated(path: str) -> Iterator[None]:
    try:
        yield
    except OssError as exc:
        new = _os_error(exc, path)
        if new is exc:
            raise
        raise new from exc


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "no such object or directory", path)


# ---------------------------------------------------------------------------- infos


def _http_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return None


def _dir_info(name: str) -> dict[str, Any]:
    return {"name": name, "size": 0, "type": "directory"}


def _file_info(name: str, size: int, etag: str, modified: datetime | None) -> dict[str, Any]:
    return {"name": name, "size": size, "type": "file", "ETag": etag, "LastModified": modified}


def _meta_info(name: str, meta: ObjectMeta) -> dict[str, Any]:
    info = _file_info(name, meta.size, meta.etag, _http_date(meta.last_modified))
    info["ContentType"] = meta.content_type
    info["crc64"] = meta.crc64
    info["metadata"] = dict(meta.metadata)
    return info


def _meta_of(info: Mapping[str, Any]) -> ObjectMeta:
    """What a ranged read needs (size, ETag to pin it) from an info dict."""
    return ObjectMeta(int(info["size"]), str(info.get("ETag") or ""), info.get("crc64"))


def _span(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """fsspec's [start, end) (None = open, negative = from the end) clamped to the object."""
    s = 0 if start is None else (max(0, size + start) if start < 0 else min(start, size))
    e = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
    return s, max(s, e)


class _Tree:
    """The directories and files below `root` seen in one flat listing."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.found = False
        self.files: dict[str, dict[str, Any]] = {}
        self.dirs: dict[str, list[dict[str, Any]]] = {}  # directory -> its entries

    def _join(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def add_dir(self, rel: str) -> str:
        """Directory `rel` (and its parents) exist; returns its full name."""
        self.found = True
        name = self._join(rel)
        if name not in self.dirs:
            self.dirs[name] = []
            if rel:
                parent = self.add_dir(rel.rpartition("/")[0])
                self.dirs[parent].append(_dir_info(name))
        return name

    def add_file(self, rel: str, info: dict[str, Any]) -> None:
        parent = self.add_dir(rel.rpartition("/")[0])
        self.files[info["name"]] = info
        self.dirs[parent].append(info)

    def listings(self) -> dict[str, list[dict[str, Any]]]:
        """Each directory's listing as `_ls` gives it: files first, then directories."""
        return {
            name: sorted(entries, key=lambda e: (e["type"] != "file", e["name"]))
            for name, entries in self.dirs.items()
        }


# ---------------------------------------------------------------------------- session


@dataclass
class _Session:
    pid: int
    session: AsyncSession
    engine: Engine


def _close_session(pid: int, loop: asyncio.AbstractEventLoop, session: AsyncSession) -> None:
    """Finalizer of a filesystem's session: close its connections on their loop, if that loop
    still runs (never in a forked child: the session belongs to the parent)."""
    if os.getpid() != pid or loop.is_closed() or not loop.is_running():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(session.delete())
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(session.delete(), loop).result(timeout=2)


class OssFileSystem(AsyncFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """fsspec filesystem for Alibaba Cloud OSS on this package's engine (see the module doc)."""

    protocol = ("oss",)
    root_marker = ""
    async_impl = True

    def __init__(
        self,
        endpoint: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        region: str | None = None,
        *,
        signature_version: str = "v4",
        default_cache_type: str = "oss-readahead",
        default_block_size: int | None = None,
        config: TransferConfig | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        transfer = {k: kwargs.pop(k) for k in CONFIG_FIELDS if k in kwargs}
        super().__init__(**kwargs)
        base = config.model_dump() if isinstance(config, TransferConfig) else dict(config or {})
        try:
            self.config = TransferConfig(**{**base, **transfer})
        except ValidationError as exc:
            raise ValueError(describe_validation_error(exc)) from None
        env = os.environ
        # What came from the environment rather than the caller: pickles carry it, so a
        # Dask worker without these variables acts with the same credentials.
        self._from_env: dict[str, str] = {}
        if key is None and secret is None:
            key, secret = env.get(ENV_KEY) or None, env.get(ENV_SECRET) or None
            token = token or next((env[n] for n in ENV_TOKENS if env.get(n)), None)
            for name, value in (("key", key), ("secret", secret), ("token", token)):
                if value:
                    self._from_env[name] = value
        if endpoint is None and env.get(ENV_ENDPOINT):
            endpoint = self._from_env["endpoint"] = env[ENV_ENDPOINT]
        if region is None and env.get(ENV_REGION):
            region = self._from_env["region"] = env[ENV_REGION]
        self.endpoint = endpoint
        self.region = region
        self._key = key
        self._secret = secret
        self._token = token
        self.signature_version = signature_version
        self.default_cache_type = default_cache_type
        self.default_block_size = default_block_size or self.config.part_size
        self._session: _Session | None = None

    def __repr__(self) -> str:
        key = mask_secret(self._key) if self._key else "none"
        return f"<OssFileSystem endpoint={self.endpoint or 'default'} key={key}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        options = {**self._from_env, **self.storage_options}
        return make_instance, (type(self), self.storage_args, options)

    # -- session

    async def _engine(self) -> Engine:
        """This instance's engine, on the running loop; a forked child makes its own."""
        pid = os.getpid()
        current = self._session
        if current is not None and current.pid == pid:
            return current.engine
        if not self._key or not self._secret:
            raise PermissionError(
                errno.EACCES,
                "no OSS credentials: pass key= and secret= (token= for STS) in storage_options "
                f"or set {ENV_KEY} and {ENV_SECRET}",
            )
        agent_bay = AsyncAgentBay(self.config)
        created = await agent_bay.create()
        created.raise_for_error()
        session = created.session
        assert session is not None
        init = await session.oss.env_init(
            self._key,
            self._secret,
            self._token,
            endpoint=self.endpoint,
            region=self.region,
            signature_version=self.signature_version,
        )
        if not init.success:
            await session.delete()
            raise ValueError(f"OssFileSystem: {init.error_message}")
        current = self._session
        if current is not None and current.pid == pid:  # another task was quicker
            await session.delete()
            return current.engine
        self._session = _Session(pid, session, Engine.of(session.oss))
        weakref.finalize(self, _close_session, pid, asyncio.get_running_loop(), session)
        return self._session.engine

    async def aclose(self) -> None:
        """Close this instance's connections now (with `asynchronous=True`, before the loop
        ends); the next call opens new ones."""
        current, self._session = self._session, None
        if current is not None and current.pid == os.getpid():
            await current.session.delete()

    # -- paths

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        stripped: str = super()._strip_protocol(path)
        return stripped.lstrip("/")

    def split_path(self, path: str) -> tuple[str, str]:
        """(bucket, key) of a path."""
        bucket, _, key = self._strip_protocol(path).partition("/")
        return bucket, key

    def _object(self, engine: Engine, path: str) -> ObjectTarget:
        bucket, key = self.split_path(path)
        if not bucket or not key:
            raise IsADirectoryError(errno.EISDIR, "a bucket is not an object", path)
        return engine.object(bucket, key)

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        for listed in list(self.dircache):
            if listed == path or listed.startswith(path + "/"):
                self.dircache.pop(listed, None)
        while path:
            path = self._parent(path)
            self.dircache.pop(path, None)

    # -- listings and infos

    async def _pages(
        self, bucket: str, prefix: str, delimiter: str | None, path: str
    ) -> AsyncIterator[ListPage]:
        engine = await self._engine()
        pages = engine.list_pages(bucket, prefix, delimiter)
        async with contextlib.aclosing(pages):  # type: ignore[type-var]
            with _translated(path):
                async for page in pages:
                    yield page

    async def _first_page(self, bucket: str, prefix: str, path: str) -> ListPage:
        pages = self._pages(bucket, prefix, "/", path)
        async with contextlib.aclosing(pages):  # type: ignore[type-var]
            async for page in pages:
                return page
        return ListPage([], [], False, "")

    async def _head(self, path: str) -> ObjectMeta:
        engine = await self._engine()
        target = self._object(engine, path)
        with _translated(path):
            return await engine.head(target)

    async def _ls(
        self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any
    ) -> Any:
        path = self._strip_protocol(path)
        listing = None if refresh else self.dircache.get(path)
        if listing is None:
            listing = await self._list_dir(path)
        return listing if detail else [o["name"] for o in listing]

    async def _list_dir(self, path: str) -> list[dict[str, Any]]:
        bucket, key = self.split_path(path)
        if not bucket:
            raise NotImplementedError("listing buckets is not supported: name a bucket")
        prefix = key + "/" if key else ""
        files: list[dict[str, Any]] = []
        dirs: list[dict[str, Any]] = []
        found = False
        async for page in self._pages(bucket, prefix, "/", path):
            for e in page.entries:
                found = True
                if e.key != prefix:  # not the directory's own marker
                    files.append(_file_info(f"{bucket}/{e.key}", e.size, e.etag, e.last_modified))
            for cp in page.common_prefixes:
                found = True
                dirs.append(_dir_info(f"{bucket}/{cp[:-1]}"))
        if key and not found:
            return [_meta_info(path, await self._head(path))]  # a file (or FileNotFoundError)
        listing = files + dirs
        self.dircache[path] = listing
        return listing

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        bucket, key = self.split_path(path)
        if not bucket:
            return _dir_info("")
        if not key:
            if path not in self.dircache:
                await self._first_page(bucket, "", path)  # NoSuchBucket: FileNotFoundError
            return _dir_info(bucket)
        cached = self._ls_from_cache(path)  # FileNotFoundError if the parent's listing lacks it
        if cached is not None:
            for entry in cached:
                if entry["name"] == path:
                    return dict(entry)
            return _dir_info(path)  # its own listing is cached
        try:
            return _meta_info(path, await self._head(path))
        except FileNotFoundError:
            pass
        page = await self._first_page(bucket, key + "/", path)
        if page.entries or page.common_prefixes:
            return _dir_info(path)
        raise _not_found(path)

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        try:
            await self._info(path)
        except FileNotFoundError:
            return False
        return True

    async def _isdir(self, path: str) -> bool:
        try:
            return bool((await self._info(path))["type"] == "directory")
        except FileNotFoundError:
            return False

    async def _isfile(self, path: str) -> bool:
        try:
            return bool((await self._info(path))["type"] == "file")
        except (FileNotFoundError, IsADirectoryError):
            return False

    async def _size(self, path: str) -> int:
        return int((await self._info(path))["size"])

    async def _modified(self, path: str) -> datetime:
        info = await self._info(path)
        if info["type"] != "file" or info.get("LastModified") is None:
            raise IsADirectoryError(errno.EISDIR, "directories have no modification time", path)
        modified: datetime = info["LastModified"]
        return modified

    modified = sync_wrapper(_modified)

    async def _checksum(self, path: str) -> int:
        """The object's CRC-64 (as OSS computes it), else a hash of its ETag."""
        meta = await self._head(self._strip_protocol(path))
        return meta.crc64 if meta.crc64 is not None else int.from_bytes(meta.etag.encode(), "big")

    checksum = sync_wrapper(_checksum)

    async def _find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Every object below `path` from one flat listing, page by page (no per-directory
        requests); `maxdepth` walks directory by directory instead."""
        path = self._strip_protocol(path)
        if maxdepth is not None:
            return await super()._find(
                path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs
            )
        bucket, key = self.split_path(path)
        if not bucket:
            raise NotImplementedError("listing buckets is not supported: name a bucket")
        prefix = key + "/" if key else ""
        tree = _Tree(path)
        async for page in self._pages(bucket, prefix, None, path):
            for e in page.entries:
                rel = e.key[len(prefix) :]
                if rel.endswith("/") or not rel:  # a directory's marker
                    tree.add_dir(rel[:-1])
                else:
                    name = f"{bucket}/{e.key}"
                    tree.add_file(rel, _file_info(name, e.size, e.etag, e.last_modified))
        out: dict[str, dict[str, Any]] = {}
        if tree.found:
            # The whole tree is known: every directory's listing goes to the cache, so the
            # isdir / info calls that follow a find (get, cp, rm) send no request.
            self.dircache.update(tree.listings())
            out = dict(tree.files)
            if withdirs:
                for name in tree.dirs:
                    out.setdefault(name, _dir_info(name))
        elif key:
            with contextlib.suppress(FileNotFoundError):
                info = await self._info(path)
                if info["type"] == "file":
                    out[path] = info
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    async def _du(
        self, path: str, total: bool = True, maxdepth: int | None = None, **kwargs: Any
    ) -> Any:
        found = await self._find(path, maxdepth=maxdepth, detail=True, **kwargs)
        sizes = {name: info["size"] for name, info in found.items()}
        return sum(sizes.values()) if total else sizes

    # -- reading

    async def _read(self, path: str, meta: ObjectMeta, start: int | None, end: int | None) -> bytes:
        """Bytes [start, end) of an object whose HEAD is `meta` (ranges pinned by its ETag)."""
        s, e = _span(meta.size, start, end)
        if e <= s:
            return b""
        engine = await self._engine()
        target = self._object(engine, path)
        chunks: list[bytes] = []
        with _translated(path):
            async for got in engine.iter_ranges(target, s, e - s, meta=meta):
                chunks += got
        return b"".join(chunks)

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """One GET for a small object (no HEAD: the answer tells size and ETag); ranges
        counted from the end (negative) need the size first."""
        path = self._strip_protocol(path)
        begin = start or 0
        if begin < 0 or (end is not None and (end < 0 or end <= begin)):
            return await self._read(path, await self._head(path), start, end)
        engine = await self._engine()
        target = self._object(engine, path)
        with _translated(path):
            return await engine.read(target, begin, None if end is None else end - begin)

    async def _cat(
        self,
        path: Any,
        recursive: bool = False,
        on_error: str = "raise",
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Every object `path` expands to, `concurrency` workers pulling from one list
        (fsspec's batches wait on all their tasks after each completion: quadratic in the
        number of paths). `batch_size` is accepted and not needed."""
        paths = await self._expand_path(path, recursive=recursive)
        engine = await self._engine()

        async def one(p: str) -> bytes | Exception:
            try:
                return await self._cat_file(p, **kwargs)
            except Exception as exc:  # reported as on_error says
                return exc

        out = await run_pool(paths, engine.concurrency, one)
        if on_error == "raise":
            for item in out:
                if isinstance(item, Exception):
                    raise item
        if len(paths) > 1 or isinstance(path, list) or paths[0] != self._strip_protocol(path):
            return {
                k: v
                for k, v in zip(paths, out, strict=True)
                if on_error != "omit" or not isinstance(v, Exception)
            }
        return out[0]

    async def _cat_ranges(
        self,
        paths: list[str],
        starts: Any,
        ends: Any,
        max_gap: int | None = None,
        batch_size: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """One HEAD per distinct object, then every range at once (the engine's `concurrency`
        bounds the requests in flight)."""
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        n = len(paths)
        starts = list(starts) if isinstance(starts, (list, tuple)) else [starts] * n
        ends = list(ends) if isinstance(ends, (list, tuple)) else [ends] * n
        if len(starts) != n or len(ends) != n:
            raise ValueError("paths, starts and ends differ in length")
        stripped = [self._strip_protocol(p) for p in paths]
        distinct = sorted(set(stripped))
        heads = await asyncio.gather(*(self._head(p) for p in distinct), return_exceptions=True)
        metas = dict(zip(distinct, heads, strict=True))

        async def one(path: str, start: int | None, end: int | None) -> bytes:
            meta = metas[path]
            if isinstance(meta, BaseException):
                raise meta
            return await self._read(path, meta, start, end)

        out = await asyncio.gather(
            *(one(p, s, e) for p, s, e in zip(stripped, starts, ends, strict=True)),
            return_exceptions=True,
        )
        if on_error != "return":
            for item in out:
                if isinstance(item, BaseException):
                    raise item
        return list(out)

    async def _get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        if await asyncio.to_thread(os.path.isdir, lpath):
            return
        rpath = self._strip_protocol(rpath)
        try:
            meta = await self._head(rpath)
        except (FileNotFoundError, IsADirectoryError):
            if await self._isdir(rpath):
                os.makedirs(lpath, exist_ok=True)
                return
            raise
        engine = await self._engine()
        if callback is not None:
            callback.set_size(meta.size)
        with _translated(rpath):
            await engine.download_file(
                self._object(engine, rpath), Path(lpath), meta=meta, progress=_hook(callback)
            )

    # -- writing

    async def _pipe_file(
        self, path: str, value: Any, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        path = self._strip_protocol(path)
        engine = await self._engine()
        target = self._object(engine, path)
        try:
            with _translated(path):
                await engine.upload_source(target, value, **_write_options(mode, kwargs))
        finally:
            self.invalidate_cache(path)

    async def _put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Any = None,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        rpath = self._strip_protocol(rpath)
        st = await asyncio.to_thread(os.stat, lpath)
        if stat.S_ISDIR(st.st_mode):
            await self._makedirs(rpath, exist_ok=True)
            return
        engine = await self._engine()
        target = self._object(engine, rpath)
        if callback is not None:
            callback.set_size(st.st_size)
        try:
            with _translated(rpath):
                await engine.upload_file(
                    target, lpath, progress=_hook(callback), **_write_options(mode, kwargs)
                )
        finally:
            self.invalidate_cache(rpath)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        if path1 == path2:
            return
        engine = await self._engine()
        src, dst = self._object(engine, path1), self._object(engine, path2)
        try:
            with _translated(path1):
                await engine.copy(src, dst)
        except FileNotFoundError:
            if not await self._isdir(path1):
                raise
            await self._put_marker(path2)  # a directory in a recursive copy (empty ones too)
        finally:
            self.invalidate_cache(path2)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        bucket, key = self.split_path(path)
        engine = await self._engine()
        try:
            with _translated(path):
                await engine.delete(bucket, [key])
        finally:
            self.invalidate_cache(path)

    async def _rm(
        self,
        path: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Everything `path` expands to, in DeleteMultipleObjects batches of 1,000 keys (a
        directory's `dir/` marker too). Buckets themselves are never deleted."""
        paths = await self._expand_path(path, recursive=recursive, maxdepth=maxdepth)
        keys: dict[str, set[str]] = {}
        for p in paths:
            bucket, key = self.split_path(p)
            if key:
                keys.setdefault(bucket, set()).update((key, key + "/"))
        engine = await self._engine()
        try:
            for bucket, names in keys.items():
                with _translated(bucket):
                    await engine.delete(bucket, sorted(names))
        finally:
            for p in paths:
                self.invalidate_cache(p)

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A `dir/` marker object, so that an empty directory exists (OSS's own convention).
        Buckets are not created here."""
        path = self._strip_protocol(path)
        bucket, key = self.split_path(path)
        if not key:
            if not await self._exists(bucket):
                raise PermissionError(
                    errno.EACCES, "creating buckets is not supported; create it first", bucket
                )
            return
        with contextlib.suppress(FileNotFoundError):
            await self._head(path)
            raise FileExistsError(errno.EEXIST, "an object of that name exists", path)
        await self._put_marker(path)

    async def _put_marker(self, path: str) -> None:
        engine = await self._engine()
        bucket, key = self.split_path(path)
        try:
            with _translated(path):
                await engine.upload_source(
                    engine.object(bucket, key + "/"), b"", content_type=MARKER_TYPE
                )
        finally:
            self.invalidate_cache(path)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        try:
            info = await self._info(path)
        except FileNotFoundError:
            if self.split_path(path)[1]:
                await self._put_marker(path)
            else:
                await self._mkdir(path)  # a bucket: refused
            return
        if info["type"] != "directory" or not exist_ok:
            raise FileExistsError(errno.EEXIST, "exists", path)

    # -- URLs and files

    async def _sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        await self._engine()
        assert self._session is not None
        bucket, key = self.split_path(path)
        return await self._session.session.oss.presign(
            bucket, key, method=kwargs.get("method", "GET"), expires=int(expiration)
        )

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        """A presigned URL of the object (GET unless `method=` says otherwise)."""
        url: str = sync(self.loop, self._sign, path, expiration, **kwargs)
        return url

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        cache_type: str | None = None,
        **kwargs: Any,
    ) -> OssFile:
        if not autocommit:
            raise NotImplementedError("OssFileSystem does not support transactions yet")
        if mode not in ("rb", "wb", "xb"):
            raise NotImplementedError(f"mode {mode!r} is not supported (use rb, wb or xb)")
        return OssFile(
            self,
            self._strip_protocol(path),
            mode,
            block_size=block_size or self.default_block_size,
            cache_type=cache_type or self.default_cache_type,
            cache_options=cache_options,
            **kwargs,
        )


def _write_options(mode: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Engine upload options from fsspec's `mode` ("create": never replace an object) and
    the caller's `content_type=` / `metadata=` (x-oss-meta-*)."""
    return {
        "content_type": kwargs.get("content_type"),
        "metadata": kwargs.get("metadata"),
        "forbid_overwrite": mode == "create",
    }


def _hook(callback: Any) -> Any:
    """The engine's progress hook feeding an fsspec callback (absolute byte counts)."""
    if callback is None:
        return None

    def hook(event: ProgressEvent) -> None:
        callback.absolute_update(event.bytes_done)

    return hook


# ---------------------------------------------------------------------------- files


class _Upload:
    """A streamed upload fed chunk by chunk (runs on the filesystem's loop): the engine
    uploads parts as they fill, at most one chunk waits here. `abort` cancels it, and the
    engine aborts the multipart upload."""

    def __init__(self, engine: Engine, target: ObjectTarget, forbid_overwrite: bool) -> None:
        self._queue: asyncio.Queue[bytes | memoryview | None] = asyncio.Queue(maxsize=1)
        self._task = asyncio.ensure_future(
            engine.upload_source(target, self._chunks(), forbid_overwrite=forbid_overwrite)
        )

    async def _chunks(self) -> AsyncIterator[bytes | memoryview]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def feed(self, chunk: bytes | memoryview | None) -> None:
        put = asyncio.ensure_future(self._queue.put(chunk))
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():  # the upload ended first: it failed
            put.cancel()
            await self._task
            raise OSError(errno.EIO, "the upload stopped before all bytes were sent")

    async def finish(self) -> None:
        await self.feed(None)
        await self._task

    async def abort(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


class OssFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec is untyped
    """A buffered OSS object. Reading: ranged GETs pinned by the ETag seen at open, through
    the chosen cache (default "oss-readahead": the footer kept, read-ahead only while reading
    sequentially). Writing: `block_size` chunks streamed into one multipart upload (one
    PutObject for a small file); close completes it, an exception in `with` aborts it."""

    fs: OssFileSystem

    def __init__(self, fs: OssFileSystem, path: str, mode: str = "rb", **kwargs: Any) -> None:
        self._upload: _Upload | None = None
        self._meta: ObjectMeta | None = None
        if mode == "rb":
            self._meta = sync(fs.loop, fs._head, path)
            kwargs["size"] = self._meta.size
        elif mode == "xb" and fs.exists(path):
            raise FileExistsError(errno.EEXIST, "the object exists", path)
        super().__init__(fs, path, mode, **kwargs)
        if self._meta is not None:
            self.details = _meta_info(path, self._meta)

    def _fetch_range(self, start: int, end: int) -> bytes:
        assert self._meta is not None
        data: bytes = sync(self.fs.loop, self.fs._read, self.path, self._meta, start, end)
        return data

    def _initiate_upload(self) -> None:
        """Nothing yet: a file that fits one block goes as one PutObject at close."""

    def _upload_chunk(self, final: bool = False) -> bool:
        # A copy, not getbuffer(): a view still held by a failed upload would keep the
        # buffer exported, and fsspec's BytesIO then cannot be resized or freed (BufferError).
        data = self.buffer.getvalue()
        forbid = self.mode == "xb"
        fs = self.fs
        if self._upload is None and final:
            sync(fs.loop, fs._pipe_file, self.path, data, mode="create" if forbid else "overwrite")
            return True
        with _translated(self.path):  # the upload's own failure, e.g. FileExistsError for xb
            if self._upload is None:
                self._upload = sync(fs.loop, self._start, forbid)
            sync(fs.loop, self._upload.feed, data)
            if final:
                try:
                    sync(fs.loop, self._upload.finish)
                finally:
                    fs.invalidate_cache(self.path)
        return True

    async def _start(self, forbid_overwrite: bool) -> _Upload:
        engine = await self.fs._engine()
        return _Upload(engine, self.fs._object(engine, self.path), forbid_overwrite)

    def discard(self) -> None:
        """Drop what was written: the multipart upload (if any) is aborted, nothing stored."""
        if self._upload is not None:
            sync(self.fs.loop, self._upload.abort)
        self._upload = None
        self.closed = True

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None and self.writable():
            self.discard()
        else:
            self.close()


# ---------------------------------------------------------------------------- cache


class ReadaheadTailCache(BaseCache):  # type: ignore[misc]  # fsspec is untyped
    """For columnar files and for streams alike: a read in the last 64 KiB fetches (once) the
    whole tail, where Parquet and ORC keep their footers; a read continuing where the last
    one ended fetches `blocksize` ahead; any other read fetches just its bytes (the column
    chunks a reader picked, no read-ahead that would be thrown away)."""

    name = "oss-readahead"

    def __init__(self, blocksize: int, fetcher: Any, size: int, **kwargs: Any) -> None:
        super().__init__(blocksize, fetcher, size)
        self.block = b""
        self.block_start = 0
        self.tail = b""
        self.tail_start = max(0, size - TAIL)
        self.last_end = 0

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        start = 0 if start is None else start
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return b""
        sequential = start == self.last_end
        self.last_end = end
        if start >= self.tail_start and self.tail:
            self.hit_count += 1
            return self.tail[start - self.tail_start : end - self.tail_start]
        block_end = self.block_start + len(self.block)
        if self.block_start <= start and end <= block_end:
            self.hit_count += 1
            return self.block[start - self.block_start : end - self.block_start]
        self.miss_count += 1
        if start >= self.tail_start:
            self.tail = self._get(self.tail_start, self.size)
            return self.tail[start - self.tail_start : end - self.tail_start]
        head = b""
        if self.block_start <= start < block_end:  # the rest continues the cached block
            head = self.block[start - self.block_start :]
            start, sequential = block_end, True
        fetch_end = min(self.size, end + self.blocksize) if sequential else end
        self.block, self.block_start = self._get(start, fetch_end), start
        return head + self.block[: end - start]

    def _get(self, start: int, end: int) -> bytes:
        self.total_requested_bytes += end - start
        data: bytes = self.fetcher(start, end)
        return data


register_cache(ReadaheadTailCache, clobber=True)

__all__ = ["OssFile", "OssFileSystem", "ReadaheadTailCache"]
