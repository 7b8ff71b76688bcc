"""Directory transfers and syncs sharded over a 3-worker LocalCluster, judged by oss2 and by the
same transfer without `cluster=`."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import oss2
from distributed import Client

from agentbay_oss import AgentBay
from agentbay_oss.aio import AsyncAgentBay, AsyncOss, TransferConfig
from agentbay_oss.dask import Cluster
from agentbay_oss.protocol.crc64 import crc64
from agentbay_oss.protocol.signing import Credentials

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
async def session(creds: Any, **env: Any) -> AsyncIterator[AsyncOss]:
    created = await AsyncAgentBay(CONFIG).create()
    assert created.success, created.error_message
    oss = created.session.oss
    got = await oss.env_init(
        creds.access_key_id, creds.access_key_secret, creds.security_token,
        endpoint=creds.endpoint, region=creds.region, **env,
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
    assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(files["big/huge.bin"])
    last = events[-1]
    assert (last.files_done, last.bytes_done) == (len(files), sum(map(len, files.values())))
    assert down_c.success, down_c.error_message
    assert counts(down_c) == counts(down_l)
    assert local_tree(tmp_path / "dc") == local_tree(tmp_path / "dl") == expected
    assert peer.list_multipart_uploads().upload_list == []


def test_syncs_match_the_local_syncs(
    creds: Any, bucket: str, peer: oss2.Bucket, dask_client: Client, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    cluster = cluster_of(dask_client)

    def change() -> None:
        later = time.time_ns() + 5 * 10**9  # newer than the objects, to the second
        (src / "d0/f00.txt").write_bytes(b"changed, same size?")
        os.utime(src / "d0/f00.txt", ns=(later, later))
        (src / "big/huge.bin").write_bytes(os.urandom(BIG + 1))
        (src / "d1/f01.txt").unlink()
        (src / "new.txt").write_bytes(b"new")

    async def go() -> tuple[Any, ...]:
        async with session(creds) as oss:
            first = [
                await oss.sync_upload(bucket, "c", str(src), cluster=cluster),
                await oss.sync_upload(bucket, "l", str(src)),
            ]
            change()
            second = [
                await oss.sync_upload(bucket, "c", str(src), delete=True, cluster=cluster),
                await oss.sync_upload(bucket, "l", str(src), delete=True),
            ]
            dry = [  # decided on this machine: no probe file, no directory made
                await oss.sync_upload(bucket, "c", str(src), dry_run=True, cluster=cluster),
                await oss.sync_download(
                    bucket, "c", str(tmp_path / "dry"), dry_run=True, cluster=cluster
                ),
            ]
            down = [
                await oss.sync_download(bucket, "c", str(tmp_path / "dc"), cluster=cluster),
                await oss.sync_download(bucket, "c", str(tmp_path / "dl")),
            ]
            again = await oss.sync_download(bucket, "c", str(tmp_path / "dc"), cluster=cluster)
            return first, second, down, again, dry

    first, second, down, again, dry = run(go())
    for cl, lo in (first, second, down):
        assert cl.success, cl.error_message
        assert (*counts(cl), cl.skipped, cl.deleted) == (*counts(lo), lo.skipped, lo.deleted)
    assert second[0].files == 3 and second[0].deleted == 1  # f00, huge.bin, new.txt
    expected = local_tree(src)
    expected.pop("empty/")  # a sync sends files only
    assert listing(peer, "c/") == listing(peer, "l/") == expected
    assert local_tree(tmp_path / "dc") == local_tree(tmp_path / "dl") == expected
    assert again.success and again.files == 0 and again.skipped == len(expected)
    assert peer.list_multipart_uploads().upload_list == []
    assert dry[0].success and dry[0].files + dry[0].skipped == len(expected)
    assert dry[1].success and dry[1].files == len(expected), dry[1].error_message
    assert not (tmp_path / "dry").exists()


def test_prefix_copy_matches_the_local_copy(
    creds: Any, bucket: str, peer: oss2.Bucket, dask_client: Client, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "src")

    async def go() -> tuple[Any, Any]:
        async with session(creds) as oss:
            up = await oss.upload(bucket, "src", str(tmp_path / "src"))
            assert up.success, up.error_message
            cl = await oss.copy(bucket, "src/", bucket, "c", cluster=cluster_of(dask_client))
            lo = await oss.copy(bucket, "src/", bucket, "l")
            return cl, lo

    cl, lo = run(go())
    assert cl.success, cl.error_message
    assert counts(cl) == counts(lo)
    assert listing(peer, "c/") == listing(peer, "l/") == dict(files, **{"empty/": b""})


def test_blocking_api_with_a_scheduler_address(
    creds: Any, bucket: str, peer: oss2.Bucket, dask_client: Client, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "src")
    session = AgentBay(CONFIG).create().session
    try:
        got = session.oss.env_init(
            creds.access_key_id, creds.access_key_secret, creds.security_token,
            endpoint=creds.endpoint, region=creds.region,
        )  # fmt: skip
        assert got.success
        address = dask_client.scheduler.address
        r = session.oss.upload(bucket, "b", str(tmp_path / "src"), cluster=address)
        assert r.success, r.error_message
        d = session.oss.sync_download(bucket, "b", str(tmp_path / "out"), cluster=address)
        assert d.success and d.files == len(files), d.error_message
    finally:
        session.delete()
    assert listing(peer, "b/") == dict(files, **{"empty/": b""})
    assert local_tree(tmp_path / "out") == files


def test_per_file_failures_end_as_in_a_local_download(
    creds: Any, bucket: str, dask_client: Client, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "src")
    for side in ("dc", "dl"):  # a directory where an object's file must go: that file fails
        (tmp_path / side / "d0" / "f00.txt").mkdir(parents=True)
        (tmp_path / side / "big" / "huge.bin").mkdir(parents=True)
    failed: list[str] = []

    async def go() -> tuple[Any, Any]:
        async with session(creds) as oss:
            assert (await oss.upload(bucket, "s", str(tmp_path / "src"))).success
            cl = await oss.download(
                bucket, "s/", str(tmp_path / "dc"), cluster=cluster_of(dask_client)
            )
            lo = await oss.download(bucket, "s/", str(tmp_path / "dl"))
            return cl, lo

    cl, lo = run(go())
    assert not cl.success and counts(cl) == counts(lo)
    assert cl.failed == 2 and cl.files == len(files) - 2
    for rel in ("d0/f00.txt", "big/huge.bin"):
        assert f"{tmp_path / 'dc' / rel} is an existing directory" in cl.error_message
    assert type(cl._error) is type(lo._error)
    assert local_tree(tmp_path / "dc") == local_tree(tmp_path / "dl")
    assert not failed


def test_refreshed_sts_credentials_reach_the_workers(
    creds: Any, bucket: str, oss_server: Any, dask_client: Client, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "src")
    calls: list[int] = []

    def provider() -> Credentials:
        calls.append(1)
        return Credentials(creds.access_key_id, creds.access_key_secret, "fresh-token")

    async def go() -> tuple[Any, Any]:
        async with session(creds, credentials_provider=provider) as oss:
            first = await oss.upload(
                bucket, "a", str(tmp_path / "src"), cluster=cluster_of(dask_client)
            )
            # The workers' engines hold the old token, which now answers SecurityTokenExpired.
            oss_server.set_credentials(creds.access_key_id, creds.access_key_secret, "fresh-token")
            second = await oss.upload(
                bucket, "b", str(tmp_path / "src"), cluster=cluster_of(dask_client)
            )
            return first, second

    first, second = run(go())
    assert first.success and second.success, second.error_message
    assert calls == [1]
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, "fresh-token")
    judge = oss2.Bucket(auth, creds.endpoint, bucket)
    assert listing(judge, "b/") == dict(files, **{"empty/": b""})


def test_a_worker_that_cannot_see_the_path_is_named(
    creds: Any, bucket: str, peer: oss2.Bucket, dask_client: Client, tmp_path: Path,
    monkeypatch: Any,
) -> None:  # fmt: skip
    # /proc/self/cwd/tree names a different directory in each process: the tree here, and on
    # a worker whatever its working directory holds. Two workers work where the tree is, the
    # third elsewhere: a path that does not mean the same on every machine.
    make_tree(tmp_path / "tree")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    workers = sorted(dask_client.scheduler_info()["workers"])
    blind = workers[0]
    before = dask_client.run(os.getcwd)
    dask_client.run(os.chdir, str(tmp_path), workers=workers[1:])
    dask_client.run(os.chdir, str(elsewhere), workers=[blind])
    try:

        async def go() -> tuple[Any, Any]:
            async with session(creds) as oss:
                up = await oss.upload(
                    bucket, "x", "/proc/self/cwd/tree", cluster=cluster_of(dask_client)
                )
                down = await oss.sync_download(
                    bucket, "", "/proc/self/cwd/out", cluster=cluster_of(dask_client)
                )
                return up, down

        up, down = run(go())
    finally:
        for worker, cwd in before.items():
            dask_client.run(os.chdir, cwd, workers=[worker])
    for r in (up, down):
        assert not r.success
        assert f"Dask worker {blind} cannot see /proc/self/cwd/" in r.error_message
        assert "same shared directory" in r.error_message
    assert list(oss2.ObjectIterator(peer)) == []  # nothing moved
    assert sorted(p.name for p in tmp_path.glob("*/.agentbay-dask-probe-*")) == []


def test_cli_cp_and_sync_with_dask(
    creds: Any, bucket: str, peer: oss2.Bucket, dask_client: Client, tmp_path: Path,
    monkeypatch: Any,
) -> None:  # fmt: skip
    from agentbay_oss.cli import main  # in this process: a CLI subprocess costs seconds

    for name, value in (
        ("OSS_ACCESS_KEY_ID", creds.access_key_id),
        ("OSS_ACCESS_KEY_SECRET", creds.access_key_secret),
        ("OSS_SESSION_TOKEN", creds.security_token),
        ("OSS_ENDPOINT", creds.endpoint),
        ("OSS_REGION", creds.region),
    ):
        monkeypatch.setenv(name, value)
    files = make_tree(tmp_path / "src")
    address = dask_client.scheduler.address
    assert main(["cp", "-r", "--dask", address, str(tmp_path / "src"), f"oss://{bucket}/t"]) == 0
    assert listing(peer, "t/") == dict(files, **{"empty/": b""})
    assert main(["sync", "--dask", address, f"oss://{bucket}/t", str(tmp_path / "out")]) == 0
    assert local_tree(tmp_path / "out") == files


def test_a_worker_killed_mid_upload(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket, dask_client: Client,
    tmp_path: Path,
) -> None:  # fmt: skip
    src = tmp_path / "src"
    files = make_tree(src)
    for i in range(30):
        (src / "more" / f"m{i:02d}").parent.mkdir(exist_ok=True)
        data = os.urandom(50 + i)
        (src / "more" / f"m{i:02d}").write_bytes(data)
        files[f"more/m{i:02d}"] = data
    pids = dask_client.run(os.getpid)
    killed: list[tuple[str, int, int]] = []

    def kill_a_busy_worker(_: Any) -> None:
        if killed:
            return
        busy = {w: len(keys) for w, keys in dask_client.processing().items() if keys}
        worker = max(busy, key=busy.__getitem__) if busy else sorted(pids)[0]
        os.kill(pids[worker], signal.SIGKILL)
        killed.append((worker, pids[worker], busy.get(worker, 0)))

    oss_server.faults.latency_ms = 40  # every batch lasts long enough to be cut
    cluster = Cluster(dask_client, batch_files=2, batch_bytes=256 * KiB)

    async def go() -> Any:
        async with session(creds) as oss:
            return await oss.upload(
                bucket, "k", str(src), cluster=cluster, on_object=kill_a_busy_worker
            )

    r = run(go())
    oss_server.faults.latency_ms = 0
    assert killed and killed[0][2] > 0, killed  # the worker had a batch when it was killed
    assert r.success, r.error_message
    assert r.files == len(files)
    assert listing(peer, "k/") == dict(files, **{"empty/": b""})
    assert peer.list_multipart_uploads().upload_list == []
    # The killed process is gone from the cluster (its nanny restarts a new one, in its own
    # time: this test runs last on the module's cluster, so none waits for it).
    now = dask_client.run(os.getpid, on_error="ignore")
    assert killed[0][1] not in now.values()
