"""Directory transfers and syncs sharded over a 3-worker LocalCluster, judged by oss2 and by the
same transfer without `cluster=`."""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import oss2
from distributed import Client

from agentbay_oss.aio import AsyncAgentBay, AsyncOss, TransferConfig
from agentbay_oss.dask import Cluster

T = TypeVar("T")
KiB = 1024
# Parts of 100 KiB from 200 KiB on; batches of 4 files or 256 KiB: the tree below makes
# several batches, and its 700 KiB file 7 parts sent as 4 pieces by several workers.
CONFIG = TransferConfig(
    part_size=100 * KiB, multipart_threshold=200 * KiB, concurrency=4, backoff_base=0.01,
    backoff_max=0.05,
)  # fmt: skip
BIG = 700 * KiB


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def session(creds: Any) -> AsyncIterator[AsyncOss]:
    created = await AsyncAgentBay(CONFIG).create()
    assert created.success, created.error_message
    oss = created.session.oss
    got = await oss.env_init(
        creds.access_key_id, creds.access_key_secret, creds.security_token,
        endpoint=creds.endpoint, region=creds.region,
    )  # fmt: skip
    assert got.success, got.error_message
    try:
        yield oss
    finally:
        await created.session.delete()


def cluster_of(client: Client) -> Cluster:
    return Cluster(client, batch_files=4, batch_bytes=256 * KiB)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {f"d{i % 3}/f{i:02d}.txt": os.urandom(100 + 37 * i) for i in range(14)}
    files["mid.bin"] = os.urandom(150 * KiB)  # below the threshold: one PUT in a batch
    files["big/huge.bin"] = os.urandom(BIG)  # split by parts over the workers
    files["\u00e9t\u00e9.txt"] = "été".encode()
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "empty").mkdir()
    return files


def listing(peer: oss2.Bucket, prefix: str) -> dict[str, bytes]:
    return {
        o.key[len(prefix) :]: peer.get_object(o.key).read()
        for o in oss2.ObjectIterator(peer, prefix=prefix)
    }


def local_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)).replace(os.sep, "/") + ("/" if p.is_dir() else ""): (
            b"" if p.is_dir() else p.read_bytes()
        )
        for p in root.rglob("*")
        if p.is_file() or not any(p.iterdir())
    }


def counts(r: Any) -> tuple[int, int, int, bool]:
    return r.files, r.bytes, r.failed, r.success


def test_upload_and_download_match_the_local_transfer(
    creds: Any, bucket: str, peer: oss2.Bucket, dask_client: Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    seen: list[str] = []
    events: list[Any] = []

    async def go() -> tuple[Any, ...]:
        async with session(creds) as oss:
            up_c = await oss.upload(
                bucket, "c", str(src), cluster=cluster_of(dask_client),
                on_object=lambda o: seen.append(o.key), progress=events.append,
            )  # fmt: skip
            up_l = await oss.upload(bucket, "l", str(src))
            down_c = await oss.download(
                bucket, "c/", str(tmp_path / "dc"), cluster=cluster_of(dask_client)
            )
            down_l = await oss.download(bucket, "c/", str(tmp_path / "dl"))
            return up_c, up_l, down_c, down_l

    up_c, up_l, down_c, down_l = run(go())
    assert up_c.success, up_c.error_message
    assert counts(up_c) == counts(up_l)
    expected = dict(files, **{"empty/": b""})
    assert listing(peer, "c/") == listing(peer, "l/") == expected
    assert sorted(seen) == sorted("c/" + k for k in expected)
    # The split file was completed once: its CRC-64 is the parts' (checked at Complete).
    head = peer.head_object("c/big/huge.bin")
    assert int(head.headers["x-oss-hash-crc64ecma"]) == _crc64(files["big/huge.bin"])
    last = events[-1]
    assert (last.files_done, last.bytes_done) == (len(files), sum(map(len, files.values())))
    assert down_c.success, down_c.error_message
    assert counts(down_c) == counts(down_l)
    assert local_tree(tmp_path / "dc") == local_tree(tmp_path / "dl") == expected
    assert peer.list_multipart_uploads().upload_list == []


def _crc64(data: bytes) -> int:
    from agentbay_oss.protocol.crc64 import crc64

    return crc64(data)


def _unused() -> int:
    return zlib.crc32(b"")
