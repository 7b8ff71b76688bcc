"""`LocalOssServer`: the server embedded in a process, on its own thread or in a running loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from ..protocol.keys import bucket_name_problem
from .app import OssApp, OssHttpServer
from .auth import Authenticator
from .credentials import OssCredentials
from .faults import FaultConfig, FaultInjector, ServerStats
from .idle import DEFAULT_IDLE_TIMEOUT
from .storage import IntegrityReport, Storage

T = TypeVar("T")

log = logging.getLogger("agentbay_oss.server")


def _check_bucket_name(name: str) -> None:
    problem = bucket_name_problem(name)
    if problem:
        raise ValueError(problem)


class LocalOssServer:
    """An OSS-compatible server on loopback, for tests, the demo and offline development.

    `start()` runs it on a private thread and event loop; `start_async()` runs it
    inside the caller's loop. It holds the buckets named in `buckets` / `public_buckets`
    (none by default) and those a data `root` already has; a client whose request header or
    body stops arriving for `idle_timeout` seconds is cut; bucket names follow OSS's rule
    (3-63 lowercase letters, digits, '-'), a ValueError otherwise. Fault knobs (`srv.faults`) and credentials
    (`set_credentials`, `expire_token`) can be changed while it runs; `srv.stats`
    counts requests per operation and body bytes received.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str = "AK",
        access_key_secret: str = "SK",
        security_token: str | None = None,
        region: str = "cn-hangzhou",
        buckets: tuple[str, ...] | list[str] = (),
        public_buckets: tuple[str, ...] | list[str] = (),
        faults: FaultConfig | None = None,
        host_suffix: str | None = None,
        bucket_regions: dict[str, str] | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        maintenance_interval: float = 10.0,
    ) -> None:
        self._root_arg = Path(root) if root is not None else None
        self.root: Path | None = self._root_arg
        self.host = host
        self.port = port
        self.region = region
        for name in (*buckets, *public_buckets):
            _check_bucket_name(name)
        # {bucket: region}: created at start, answering as if in that region (GetBucketLocation,
        # cross-region copy refused), though served here like the rest.
        self.bucket_regions = dict(bucket_regions or {})
        for name in self.bucket_regions:
            _check_bucket_name(name)
        self.buckets = tuple(dict.fromkeys((*buckets, *self.bucket_regions)))
        self.public_buckets = set(public_buckets)
        # Virtual-hosted addressing: a Host of `bucket.<host_suffix>[:port]` names the bucket.
        self.host_suffix = host_suffix.lower().strip(".") if host_suffix else None
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be > 0 seconds (None: never cut a stalled client)")
        # A header or body that stops arriving for this long is cut (slowloris): see idle.py.
        self.idle_timeout = idle_timeout
        if maintenance_interval <= 0:
            raise ValueError("maintenance_interval must be > 0 seconds")
        # How often the metadata store gives space back and truncates its log (storage.py).
        self.maintenance_interval = maintenance_interval
        self._maintenance: asyncio.Task[None] | None = None
        self._faults = faults or FaultConfig()
        self._faults.validate()
        self._injector = FaultInjector(self._faults)
        self.stats = ServerStats()
        self._auth = Authenticator(region, access_key_id, access_key_secret, security_token)
        self._runner: web.BaseRunner | None = None
        self._storage: Storage | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._temp_root: Path | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"LocalOssServer(endpoint={self.endpoint!r}, root={str(self.root)!r})"

    # ------------------------------------------------------------------ knobs

    @property
    def faults(self) -> FaultConfig:
        return self._faults

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        config.validate()
        self._faults = config
        self._injector.config = config

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def virtual_hosted_endpoint(self) -> str | None:
        """`http://<host_suffix>:PORT`: the endpoint for clients that put the bucket in the Host
        (oss2 and alibabacloud-oss-v2 do for any name that is not an IP address). The name and
        its subdomains must resolve to this server (e.g. a suffix under `localhost`)."""
        return f"http://{self.host_suffix}:{self.port}" if self.host_suffix else None

    @property
    def credentials(self) -> OssCredentials:
        """What a client needs: the endpoint and the credentials accepted now."""
        account = self._auth.current()
        return OssCredentials(
            self.endpoint, account.access_key_id, account.secret, self.region, account.token
        )

    def set_credentials(
        self,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        """Accept only these credentials from now on; the old token answers SecurityTokenExpired."""
        self._auth.set_credentials(access_key_id, access_key_secret, security_token, expires_at)

    def expire_token(self) -> None:
        """The current STS token expires now (SecurityTokenExpired until set_credentials)."""
        self._auth.expire_token()

    @property
    def credentials_generation(self) -> int:
        """Bumped by set_credentials / expire_token (lets a fixture restore what a test changed)."""
        return self._auth.generation

    def create_bucket(self, name: str, public: bool = False) -> None:
        """Create a bucket directly (no request); safe from any thread while running."""
        _check_bucket_name(name)
        if public:
            self.public_buckets.add(name)
        self._on_loop(lambda storage: storage.create_bucket(name))

    def check_integrity(self, deep: bool = False) -> IntegrityReport:
        """The metadata store's own check (SQLite's, then rows against blob files; see
        Storage.check_integrity); safe from any thread while running."""
        return self._on_loop(lambda storage: storage.check_integrity(deep))

    def _on_loop(self, work: Callable[[Storage], T]) -> T:
        """Run `work` on the storage, on the server's loop thread when it has its own."""

        def call() -> T:
            if self._storage is None:
                raise RuntimeError("server not running")
            return work(self._storage)

        loop = self._loop
        if (
            loop is not None
            and self._thread is not None
            and threading.current_thread() is not self._thread
        ):
            done: concurrent.futures.Future[T] = concurrent.futures.Future()

            def hop() -> None:
                try:
                    done.set_result(call())
                except BaseException as exc:
                    done.set_exception(exc)

            loop.call_soon_threadsafe(hop)
            return done.result()
        return call()

    # ------------------------------------------------------------------ in a running loop

    async def start_async(self) -> LocalOssServer:
        if self._runner is not None:
            raise RuntimeError("server already started")
        if self._root_arg is None:
            self._temp_root = Path(tempfile.mkdtemp(prefix="agentbay-oss-server-"))
            self.root = self._temp_root
        assert self.root is not None
        self.root.mkdir(parents=True, exist_ok=True)
        self._storage = Storage(self.root)
        for name in (*self.buckets, *self.public_buckets):
            self._storage.create_bucket(name)
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oss-server-io")
        app = OssApp(
            self._storage,
            self._auth,
            self._injector,
            self.stats,
            self._executor,
            self.public_buckets,
            self.region,
            self.host_suffix,
            self.bucket_regions,
        )
        server = OssHttpServer(
            app,
            access_log=None,
            read_bufsize=1 << 20,  # larger socket batches for fast PUTs
            max_field_size=16 * 1024,
            lingering_time=30.0,  # drain a rejected upload so its client reads the error
            idle_timeout=self.idle_timeout,
        )
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=512, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await self._cleanup()
            raise
        server_obj = site._server
        assert isinstance(server_obj, asyncio.base_events.Server)
        self.port = server_obj.sockets[0].getsockname()[1]
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain(self._storage))
        return self

    async def _maintain(self, storage: Storage) -> None:
        while True:
            await asyncio.sleep(self.maintenance_interval)
            try:
                storage.maintain()
            except sqlite3.Error:  # e.g. busy: the next round tries again
                log.warning("metadata maintenance failed", exc_info=True)

    async def stop_async(self) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._storage is not None:
            self._storage.close()
            self._storage = None
        if self._temp_root is not None:
            shutil.rmtree(self._temp_root, ignore_errors=True)
            self._temp_root = None
            self.root = None

    async def __aenter__(self) -> LocalOssServer:
        return await self.start_async()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    # ------------------------------------------------------------------ own thread

    def start(self) -> LocalOssServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._cleanup())
                # Connections still lingering over an unread body: cancel, then close quietly.
                leftovers = asyncio.all_tasks(loop)
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(
            target=run, name=f"local-oss-server-{id(self):x}", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> LocalOssServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
