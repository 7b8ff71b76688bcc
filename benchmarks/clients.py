"""The clients under test, each written the way its users write it.

Every function gets a `Ctx` and a timer; it sets its client up, then wraps only the transfer
in `with timer:`. Naming: `<family>-<variant>`:

- `agentbay-async` / `agentbay-sync`: our `session.oss.upload` / `download` (file or directory).
  `agentbay-uvloop`: `agentbay-async` on uvloop's event loop (issue 13: measured to decide).
- `oss2-eq` / `oss2-default`: `oss2.resumable_upload` / `resumable_download`, with
  num_threads = concurrency and part_size / thresholds equal to ours; or oss2's defaults.
- `v2-eq` / `v2-default`: alibabacloud-oss-v2 `Uploader` / `Downloader` with
  parallel_num = concurrency and part_size equal; or its defaults.
- `oss2-loop`, `oss2-pool`, `v2-loop`, `v2-pool`: many files, a plain loop of
  put_object_from_file / get_object_to_file, or a ThreadPoolExecutor of equal width
  (downloads list the prefix first, as users must).
- `raw-1`, `raw-n`: unsigned aiohttp against a public bucket, no CRC: one stream (one file after
  another), or N concurrent requests (ranged GETs / multipart parts for one big object).
- Streams (the `stream` workload; the far ends are in `pipes.py`):
  `agentbay-stream` = `upload_stream` from a pipe (`cat FILE |`, read through a buffered file
  object: not seekable, size unknown) / `download_stream` into a pipe (`| sink`);
  `agentbay-iter` = `iter_object`, each chunk counted and folded into a CRC-64, then dropped;
  `v2-stream` = alibabacloud-oss-v2 `Uploader.upload_from` on the same pipe.
- `rclone`: rclone's S3 backend (Go) against the server's S3 dialect, same storage:
  `rclone copyto` (big) / `copy` (a tree), `--transfers`, `--s3-upload-concurrency` and
  `--multi-thread-streams` equal to our concurrency, `--s3-chunk-size` and
  `--s3-upload-cutoff` equal to our part size (the chunk at least rclone's 5 MiB), `--checksum` (MD5s: rclone's default
  integrity check, kept on). Its CPU and peak RSS are those of the rclone child process.
- issue 15's `scale` rows: `agentbay-async` (directory upload / download) and
  `agentbay-syncup-noop` / `agentbay-syncup-1pct`: `sync_upload` (compare size_mtime) onto the
  seeded copy of the tree, with nothing changed / after the harness gave 1% of the files a
  newer mtime. The `latency` rows: `agentbay-async`, `oss2-pool`, `v2-pool` (64 wide).

Each client says which groups of workloads it runs in ("big": one big file, "files": a tree,
"stream": the stream rows, "c1": the big file at concurrency 1, "scale": a tree of up to
millions of files, "latency" / "latency-c8": small files against a server with latency) and in
which directions.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from benchmarks.pipes import Received, feeder, sink

if TYPE_CHECKING:  # (imported in the clients that use it: peers' RSS must not include it)
    from agentbay_oss.aio import AsyncOss

TimerLike = AbstractContextManager[Any]
T = TypeVar("T")


@dataclass
class Ctx:
    client: str
    workload: str
    direction: str  # "up" or "down"
    kind: str  # "big" (one file) or "files" (a flat directory)
    endpoint: str
    region: str
    ak: str
    sk: str
    token: str
    bucket: str
    public_bucket: str
    src: Path  # the local file or directory (uploads read it, raw downloads know names from it)
    key: str  # object key (big) or prefix ending with "/" (files)
    dest: Path  # download target: a file path (big) or a fresh directory (files)
    names: list[str]  # the data set's relative file names (only for NEEDS_NAMES, else [])
    concurrency: int
    part_size: int
    work: Path
    # Counts a client reports beside its timing (e.g. what a sync sent), in the RESULT line.
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return self.direction == "up"

    def local_files(self) -> Iterator[tuple[str, str]]:
        """(key, path) pairs for a directory upload, walking the tree as users do."""
        for entry in sorted(os.scandir(self.src), key=lambda e: e.name):
            if entry.is_file():
                yield self.key + entry.name, entry.path

    def dest_for(self, key: str) -> str:
        rel = key[len(self.key) :]
        path = self.dest / rel
        if "/" in rel:
            path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)


# A client returns what it delivered when that is not a file (a pipe, a consumer loop), for
# the runner to check against the manifest; downloads to files are checked on disk.
Client = Callable[[Ctx, TimerLike], Received | None]
CLIENTS: dict[str, Client] = {}
GROUPS = ("big", "files", "stream", "c1", "scale", "latency", "latency-c8")
# Which clients run in each group of workloads, in registration order.
GROUP_CLIENTS: dict[str, list[str]] = {g: [] for g in GROUPS}
# The directions each client runs in.
DIRECTIONS: dict[str, tuple[str, ...]] = {}
# The clients that need the data set's file names before the transfer (Ctx.names).
NEEDS_NAMES = ("raw-1", "raw-n")
# The clients that transfer in a child process: their CPU and peak RSS are the child's.
CHILD_PROCESS_CLIENTS = ("rclone",)


def client(
    *groups: str, directions: tuple[str, ...] = ("up", "down")
) -> Callable[[Client], Client]:
    def register(fn: Client) -> Client:
        name = fn.__name__.removeprefix("c_").replace("_", "-")
        CLIENTS[name] = fn
        DIRECTIONS[name] = directions
        for g in groups:
            GROUP_CLIENTS[g].append(name)
        return fn

    return register


# --- agentbay_oss -------------------------------------------------------------------------


def _check(result: Any, what: str) -> None:
    if not getattr(result, "success", False):
        raise RuntimeError(f"{what} failed: {getattr(result, 'error_message', result)!r}")


def _transfer_config(ctx: Ctx) -> Any:
    from agentbay_oss.config import TransferConfig

    return TransferConfig.model_validate(
        {"part_size": ctx.part_size, "concurrency": ctx.concurrency}
    )


def _our_args(ctx: Ctx) -> tuple[str, str, str]:
    if ctx.up:
        # A directory goes under prefix `object/`: pass the prefix without its slash.
        key = ctx.key.rstrip("/") if ctx.kind == "files" else ctx.key
        return ctx.bucket, key, str(ctx.src)
    return ctx.bucket, ctx.key, str(ctx.dest)


def _ours(
    ctx: Ctx, timer: TimerLike, op: Callable[[AsyncOss], Awaitable[T]], uvloop: bool = False
) -> T:
    """Set up an async session, time `op(session.oss)` alone, tear the session down; on
    uvloop's event loop instead of asyncio's when asked (issue 13: measure, then decide)."""
    from agentbay_oss.aio import AsyncAgentBay

    async def run() -> T:
        agent_bay = AsyncAgentBay(config=_transfer_config(ctx))
        created = await agent_bay.create()
        _check(created, "create")
        session = created.session
        try:
            _check(
                await session.oss.env_init(
                    access_key_id=ctx.ak,
                    access_key_secret=ctx.sk,
                    securityToken=ctx.token,
                    endpoint=ctx.endpoint,
                    region=ctx.region,
                ),
                "env_init",
            )
            with timer:
                return await op(session.oss)
        finally:
            await session.delete()

    if uvloop:
        import uvloop as uv

        return uv.run(run())
    return asyncio.run(run())


@client("big", "files", "stream", "c1", "scale", "latency", "latency-c8")
def c_agentbay_async(ctx: Ctx, timer: TimerLike) -> None:
    def op(oss: AsyncOss) -> Awaitable[Any]:
        return (oss.upload if ctx.up else oss.download)(*_our_args(ctx))

    _check(_ours(ctx, timer, op), ctx.direction)


@client("big", "files", "stream", "c1", "latency")
def c_agentbay_uvloop(ctx: Ctx, timer: TimerLike) -> None:
    """`agentbay-async` on uvloop's event loop."""

    def op(oss: AsyncOss) -> Awaitable[Any]:
        return (oss.upload if ctx.up else oss.download)(*_our_args(ctx))

    _check(_ours(ctx, timer, op, uvloop=True), ctx.direction)


@client("big", "files")
def c_agentbay_sync(ctx: Ctx, timer: TimerLike) -> None:
    from agentbay_oss import AgentBay

    agent_bay = AgentBay(config=_transfer_config(ctx))
    created = agent_bay.create()
    _check(created, "create")
    session = created.session
    try:
        _check(
            session.oss.env_init(
                access_key_id=ctx.ak,
                access_key_secret=ctx.sk,
                securityToken=ctx.token,
                endpoint=ctx.endpoint,
                region=ctx.region,
            ),
            "env_init",
        )
        op = session.oss.upload if ctx.up else session.oss.download
        with timer:
            result = op(*_our_args(ctx))
        _check(result, ctx.direction)
    finally:
        session.delete()


@client("stream")
def c_agentbay_stream(ctx: Ctx, timer: TimerLike) -> Received | None:
    if ctx.up:
        with feeder(ctx.src) as reader:
            up = _ours(ctx, timer, lambda oss: oss.upload_stream(ctx.bucket, ctx.key, reader))
            _check(up, "upload_stream")  # (inside: a failure is told before the feeder's)
        return None
    with sink() as pipe:
        down = _ours(ctx, timer, lambda oss: oss.download_stream(ctx.bucket, ctx.key, pipe.writer))
        _check(down, "download_stream")
        return pipe.received()


@client("stream", directions=("down",))
def c_agentbay_iter(ctx: Ctx, timer: TimerLike) -> Received:
    """Consumed and dropped; the CRC-64 fold (fastcrc, ~0.1 s/GB) is inside the clock, as
    discarded bytes can only be checked as they pass."""
    from agentbay_oss.protocol.crc64 import crc64

    async def op(oss: AsyncOss) -> Received:
        size = crc = 0
        async for chunk in oss.iter_object(ctx.bucket, ctx.key):
            size += len(chunk)
            crc = crc64(chunk, crc)
        return Received(size, crc)

    return _ours(ctx, timer, op)


@client("scale", directions=("up",))
def c_agentbay_syncup_noop(ctx: Ctx, timer: TimerLike) -> None:
    """`sync_upload` of a tree the bucket already holds, nothing changed (compare size_mtime):
    a listing merged with the walk, nothing sent."""
    _sync_upload(ctx, timer)


@client("scale", directions=("up",))
def c_agentbay_syncup_1pct(ctx: Ctx, timer: TimerLike) -> None:
    """The same after the harness gave 1% of the files a newer mtime: those 1% are sent."""
    _sync_upload(ctx, timer)


def _sync_upload(ctx: Ctx, timer: TimerLike) -> None:
    result = _ours(ctx, timer, lambda oss: oss.sync_upload(ctx.bucket, ctx.key, str(ctx.src)))
    _check(result, "sync_upload")
    ctx.report |= {"sent": result.files, "skipped": result.skipped}


# --- oss2 ---------------------------------------------------------------------------------


def _oss2_bucket(ctx: Ctx, width: int = 1) -> Any:
    import oss2

    # oss2's pool holds 10 connections by default; a user running wider raises it.
    oss2.defaults.connection_pool_size = max(oss2.defaults.connection_pool_size, width)
    return oss2.Bucket(oss2.StsAuth(ctx.ak, ctx.sk, ctx.token), ctx.endpoint, ctx.bucket)


def _oss2_resumable(ctx: Ctx, timer: TimerLike, tuned: bool) -> None:
    import oss2

    bucket = _oss2_bucket(ctx, ctx.concurrency if tuned else 1)
    ps = ctx.part_size
    if ctx.up:
        store = oss2.ResumableStore(root=str(ctx.work))
        kw = {"multipart_threshold": ps, "part_size": ps, "num_threads": ctx.concurrency}
        with timer:
            oss2.resumable_upload(
                bucket, ctx.key, str(ctx.src), store=store, **(kw if tuned else {})
            )
    else:
        dstore = oss2.ResumableDownloadStore(root=str(ctx.work))
        kw = {"multiget_threshold": ps, "part_size": ps, "num_threads": ctx.concurrency}
        with timer:
            oss2.resumable_download(
                bucket, ctx.key, str(ctx.dest), store=dstore, **(kw if tuned else {})
            )


@client("big")
def c_oss2_eq(ctx: Ctx, timer: TimerLike) -> None:
    _oss2_resumable(ctx, timer, tuned=True)


@client("big")
def c_oss2_default(ctx: Ctx, timer: TimerLike) -> None:
    _oss2_resumable(ctx, timer, tuned=False)


def _oss2_many(ctx: Ctx, timer: TimerLike, width: int) -> None:
    import oss2

    bucket = _oss2_bucket(ctx, width)

    def put(item: tuple[str, str]) -> None:
        bucket.put_object_from_file(item[0], item[1])

    def get(key: str) -> None:
        bucket.get_object_to_file(key, ctx.dest_for(key))

    with timer:
        if ctx.up:
            items: Iterator[Any] = ctx.local_files()
            fn: Callable[[Any], None] = put
        else:
            ctx.dest.mkdir(parents=True, exist_ok=True)
            items = (obj.key for obj in oss2.ObjectIteratorV2(bucket, prefix=ctx.key))
            fn = get
        _loop_or_pool(fn, items, width)


def _loop_or_pool(fn: Callable[[Any], None], items: Iterator[Any], width: int) -> None:
    """As users write it: a plain loop (width 1) or a thread pool of equal width."""
    if width == 1:
        for item in items:
            fn(item)
    else:
        with ThreadPoolExecutor(width) as pool:
            for _ in pool.map(fn, items):
                pass


@client("files")
def c_oss2_loop(ctx: Ctx, timer: TimerLike) -> None:
    _oss2_many(ctx, timer, 1)


@client("files", "latency")
def c_oss2_pool(ctx: Ctx, timer: TimerLike) -> None:
    _oss2_many(ctx, timer, ctx.concurrency)


# --- alibabacloud-oss-v2 ------------------------------------------------------------------


def _v2_client(ctx: Ctx, width: int = 1) -> Any:
    import alibabacloud_oss_v2 as oss

    cfg = oss.config.load_default()
    if width > oss.defaults.DEFAULT_MAX_CONNECTIONS:
        # v2's pool keeps 20 connections; a user running wider raises it (as for oss2).
        cfg.http_client = oss.transport.RequestsHttpClient(max_connections=width)
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ctx.ak, ctx.sk, ctx.token)
    cfg.region = ctx.region
    cfg.endpoint = ctx.endpoint
    cfg.use_path_style = True
    return oss.Client(cfg)


def _v2_transfer(ctx: Ctx, timer: TimerLike, tuned: bool) -> None:
    import alibabacloud_oss_v2 as oss

    c = _v2_client(ctx)
    kw = {"part_size": ctx.part_size, "parallel_num": ctx.concurrency} if tuned else {}
    if ctx.up:
        uploader = c.uploader(**kw)
        with timer:
            uploader.upload_file(
                oss.PutObjectRequest(bucket=ctx.bucket, key=ctx.key), filepath=str(ctx.src)
            )
    else:
        downloader = c.downloader(**kw)
        with timer:
            downloader.download_file(
                oss.GetObjectRequest(bucket=ctx.bucket, key=ctx.key), filepath=str(ctx.dest)
            )


@client("big")
def c_v2_eq(ctx: Ctx, timer: TimerLike) -> None:
    _v2_transfer(ctx, timer, tuned=True)


@client("big")
def c_v2_default(ctx: Ctx, timer: TimerLike) -> None:
    _v2_transfer(ctx, timer, tuned=False)


class _ReadOnly:
    """Only `read`: v2 sizes a reader with tell()/seek(), which on a pipe raise OSError
    (ESPIPE) instead of the io.UnsupportedOperation it catches, so a pipe's file object
    must be wrapped to be taken as a stream of unknown size."""

    def __init__(self, f: Any) -> None:
        self.read = f.read


@client("stream", directions=("up",))
def c_v2_stream(ctx: Ctx, timer: TimerLike) -> None:
    import alibabacloud_oss_v2 as oss

    uploader = _v2_client(ctx).uploader(part_size=ctx.part_size, parallel_num=ctx.concurrency)
    request = oss.PutObjectRequest(bucket=ctx.bucket, key=ctx.key)
    with feeder(ctx.src) as reader, timer:
        uploader.upload_from(request, _ReadOnly(reader))


def _v2_many(ctx: Ctx, timer: TimerLike, width: int) -> None:
    import alibabacloud_oss_v2 as oss

    c = _v2_client(ctx, width)

    def put(item: tuple[str, str]) -> None:
        c.put_object_from_file(oss.PutObjectRequest(bucket=ctx.bucket, key=item[0]), item[1])

    def get(key: str) -> None:
        c.get_object_to_file(oss.GetObjectRequest(bucket=ctx.bucket, key=key), ctx.dest_for(key))

    def listing() -> Iterator[str]:
        pages = c.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=ctx.bucket, prefix=ctx.key)
        )
        for page in pages:
            for obj in page.contents or ():
                yield obj.key

    with timer:
        if ctx.up:
            items: Iterator[Any] = ctx.local_files()
            fn: Callable[[Any], None] = put
        else:
            ctx.dest.mkdir(parents=True, exist_ok=True)
            items = listing()
            fn = get
        _loop_or_pool(fn, items, width)


@client("files")
def c_v2_loop(ctx: Ctx, timer: TimerLike) -> None:
    _v2_many(ctx, timer, 1)


@client("files", "latency")
def c_v2_pool(ctx: Ctx, timer: TimerLike) -> None:
    _v2_many(ctx, timer, ctx.concurrency)


# --- raw aiohttp: the limit ---------------------------------------------------------------

RAW_CHUNK = 2**20


def _url(ctx: Ctx, key: str, query: str = "") -> str:
    from urllib.parse import quote

    return f"{ctx.endpoint}/{ctx.public_bucket}/{quote(key)}{query}"


# The raw limit uses plain blocking file I/O on the loop (page-cache reads and writes of
# at most 1 MiB): the simplest fast code, not a model of good async code.


async def _raw_put_stream(session: Any, url: str, path: str) -> None:
    size = os.path.getsize(path)  # noqa: ASYNC240

    async def body() -> Any:
        with open(path, "rb", buffering=0) as f:  # noqa: ASYNC230
            while chunk := f.read(RAW_CHUNK):
                yield chunk

    data = body() if size > RAW_CHUNK else Path(path).read_bytes()  # noqa: ASYNC240
    async with session.put(url, data=data, headers={"Content-Length": str(size)}) as r:
        await r.read()
        r.raise_for_status()


async def _raw_get_stream(session: Any, url: str, path: str) -> None:
    async with session.get(url) as r:
        r.raise_for_status()
        with open(path, "wb", buffering=0) as f:  # noqa: ASYNC230
            async for chunk in r.content.iter_any():
                f.write(chunk)


async def _raw_put_multipart(ctx: Ctx, session: Any, width: int) -> None:
    """Anonymous multipart upload to the public bucket: N parts in flight, no signing/CRC."""
    url = _url(ctx, ctx.key)
    async with session.post(url + "?uploads") as r:
        r.raise_for_status()
        m = re.search(r"<UploadId>([^<]+)</UploadId>", await r.text())
        if not m:
            raise RuntimeError("no UploadId in InitiateMultipartUpload reply")
        upload_id = m.group(1)
    size = os.path.getsize(ctx.src)  # noqa: ASYNC240
    n = max(1, -(-size // ctx.part_size))
    etags: dict[int, str] = {}
    sem = asyncio.Semaphore(width)
    fd = os.open(ctx.src, os.O_RDONLY)
    loop = asyncio.get_running_loop()

    async def part(i: int) -> None:
        async with sem:
            off = i * ctx.part_size
            data = await loop.run_in_executor(None, os.pread, fd, ctx.part_size, off)
            q = f"?partNumber={i + 1}&uploadId={upload_id}"
            async with session.put(url + q, data=data) as r:
                await r.read()
                r.raise_for_status()
                etags[i + 1] = r.headers["ETag"]

    try:
        await asyncio.gather(*(part(i) for i in range(n)))
    finally:
        os.close(fd)
    xml = "".join(
        f"<Part><PartNumber>{i}</PartNumber><ETag>{etags[i]}</ETag></Part>" for i in sorted(etags)
    )
    body = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>"
    async with session.post(url + f"?uploadId={upload_id}", data=body.encode()) as r:
        await r.read()
        r.raise_for_status()


async def _raw_get_ranges(ctx: Ctx, session: Any, width: int) -> None:
    """N concurrent ranged GETs written at their offsets into a preallocated file."""
    url = _url(ctx, ctx.key)
    async with session.head(url) as r:
        r.raise_for_status()
        size = int(r.headers["Content-Length"])
    fd = os.open(ctx.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sem = asyncio.Semaphore(width)

    async def rng(off: int) -> None:
        end = min(off + ctx.part_size, size) - 1
        async with sem, session.get(url, headers={"Range": f"bytes={off}-{end}"}) as r:
            r.raise_for_status()
            pos = off
            async for chunk in r.content.iter_any():
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
            if pos != end + 1:
                raise RuntimeError(f"short range at {off}: {pos - off} bytes")

    try:
        os.ftruncate(fd, size)
        await asyncio.gather(*(rng(off) for off in range(0, size, ctx.part_size)))
    finally:
        os.close(fd)


def _raw(ctx: Ctx, timer: TimerLike, width: int) -> None:
    import aiohttp

    async def run() -> None:
        conn = aiohttp.TCPConnector(limit=width)
        async with aiohttp.ClientSession(connector=conn) as session:
            if ctx.kind == "big":
                with timer:
                    if ctx.up and width == 1:
                        await _raw_put_stream(session, _url(ctx, ctx.key), str(ctx.src))
                    elif ctx.up:
                        await _raw_put_multipart(ctx, session, width)
                    elif width == 1:
                        await _raw_get_stream(session, _url(ctx, ctx.key), str(ctx.dest))
                    else:
                        await _raw_get_ranges(ctx, session, width)
                return

            # Many files: the raw limit knows the names, no listing.
            async def one(name: str) -> None:
                url = _url(ctx, ctx.key + name)
                if ctx.up:
                    await _raw_put_stream(session, url, str(ctx.src / name))
                else:
                    await _raw_get_stream(session, url, str(ctx.dest / name))

            with timer:
                if not ctx.up:
                    ctx.dest.mkdir(parents=True, exist_ok=True)
                if width == 1:
                    for name in ctx.names:
                        await one(name)
                else:
                    # Bounded: at most `width` tasks alive, not one task per file.
                    it = iter(ctx.names)

                    async def worker() -> None:
                        for name in it:
                            await one(name)

                    await asyncio.gather(*(worker() for _ in range(width)))

    asyncio.run(run())


@client("big", "files", "c1")
def c_raw_1(ctx: Ctx, timer: TimerLike) -> None:
    _raw(ctx, timer, 1)


@client("big", "files")
def c_raw_n(ctx: Ctx, timer: TimerLike) -> None:
    _raw(ctx, timer, ctx.concurrency)


# --- rclone: the Go peer, through the S3 dialect ----------------------------------------------


def _rclone_env(ctx: Ctx) -> dict[str, str]:
    """rclone configured by environment alone: no config file, no AWS_* of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG=str(ctx.work / "absent-rclone.conf"),
        RCLONE_CONFIG_BENCH_TYPE="s3",
        RCLONE_CONFIG_BENCH_PROVIDER="Other",  # "Alibaba" forces virtual-hosted addressing
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=ctx.ak,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=ctx.sk,
        RCLONE_CONFIG_BENCH_SESSION_TOKEN=ctx.token,
        RCLONE_CONFIG_BENCH_ENDPOINT=ctx.endpoint,
        RCLONE_CONFIG_BENCH_REGION=ctx.region,
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
    )
    return env


@client("big", "files")
def c_rclone(ctx: Ctx, timer: TimerLike) -> None:
    import shutil
    import subprocess

    exe = shutil.which("rclone")
    if exe is None:
        raise RuntimeError("rclone is not installed")
    # rclone refuses chunks under 5 MiB (S3's minimum part), so tiny test part sizes are raised.
    # Sizes in bytes: rclone reads a bare number as KiB.
    n, part = str(ctx.concurrency), f"{ctx.part_size}B"
    chunk = f"{max(ctx.part_size, 5 * 2**20)}B"
    remote = f"bench:{ctx.bucket}/{ctx.key.rstrip('/')}"
    local = str(ctx.src if ctx.up else ctx.dest)
    verb = "copyto" if ctx.kind == "big" else "copy"
    cmd = [exe, verb, local, remote] if ctx.up else [exe, verb, remote, local]
    cmd += ["--checksum", "--transfers", n, "--s3-upload-concurrency", n]
    cmd += ["--multi-thread-streams", n, "--s3-chunk-size", chunk, "--s3-upload-cutoff", part]
    cmd += ["--low-level-retries", "1", "--retries", "1", "--stats", "0"]
    with timer:
        proc = subprocess.run(cmd, env=_rclone_env(ctx), capture_output=True, text=True)
    if proc.returncode:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"rclone exit {proc.returncode}: {tail}")
