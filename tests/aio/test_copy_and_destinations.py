"""Server-side copy, batched deletes, and downloads onto devices, FIFOs and symlinks."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import oss2
import pytest
from aio_helpers import PART, THRESHOLD, oss_session, run

from agentbay_oss import AgentBay
from agentbay_oss.protocol.crc64 import crc64

BIG = 4 * PART + 77


def test_copy_object_small_big_and_prefix(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket
) -> None:
    small, big = os.urandom(1000), os.urandom(BIG)
    peer.put_object("src/a.txt", small, headers={"x-oss-meta-color": "blue"})
    peer.put_object("src/deep/b.bin", big)
    stats = oss_server.stats.requests
    copies_before = (stats["CopyObject"], stats["UploadPartCopy"], stats["GetObject"])

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.copy(bucket, "src/a.txt", bucket, "one/a.txt"),
                await oss.copy(bucket, "src/deep/b.bin", bucket, "one/"),  # keeps the name
                await oss.copy(bucket, "src/", bucket, "tree"),
            ]

    one, two, tree = run(go())
    after = (stats["CopyObject"], stats["UploadPartCopy"], stats["GetObject"])
    assert one.success and two.success and tree.success, [r.error_message for r in (one, two, tree)]
    assert peer.get_object("one/a.txt").read() == small
    assert peer.head_object("one/a.txt").headers["x-oss-meta-color"] == "blue"
    assert peer.get_object("one/b.bin").read() == big
    assert two.objects[0].crc64 == crc64(big)
    assert peer.get_object("tree/a.txt").read() == small
    assert peer.get_object("tree/deep/b.bin").read() == big
    assert tree.files == 2 and tree.bytes == len(small) + len(big)
    assert after[0] - copies_before[0] == 2  # the small object, twice
    assert after[1] - copies_before[1] == 2 * -(-BIG // PART)  # the big one, by parts
    assert after[2] == copies_before[2]  # no byte came through this machine
    assert list(oss2.MultipartUploadIterator(peer)) == []


def test_copy_bad_input(creds: Any, bucket: str, peer: oss2.Bucket) -> None:
    peer.put_object("k", b"x")

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.copy(bucket, "k", bucket, "k"),
                await oss.copy(bucket, "missing", bucket, "x"),
                await oss.copy(bucket, "k", "no-such-bucket-here", "x"),
                await oss.copy(bucket, "dir/", bucket, "dir/"),
            ]

    onto_itself, missing, no_bucket, prefix_itself = run(go())
    assert not onto_itself.success and "itself" in onto_itself.error_message
    assert not missing.success and "NoSuch" in missing.error_message
    assert not no_bucket.success and "NoSuchBucket" in no_bucket.error_message
    assert not prefix_itself.success and "change nothing" in prefix_itself.error_message
    assert peer.get_object("k").read() == b"x"


def test_recursive_delete_is_batched(creds: Any, bucket: str, oss_server: Any) -> None:
    async def go() -> Any:
        async with oss_session(creds) as oss:
            for i in range(30):
                assert (await oss.upload_stream(bucket, f"d/{i:03}", b"x")).success
            assert (await oss.upload_stream(bucket, "d2", b"keep")).success
            stats = oss_server.stats.requests
            before = (stats["DeleteObject"], stats["DeleteMultipleObjects"])
            r = await oss.delete_objects(bucket, "d", recursive=True)
            after = (stats["DeleteObject"], stats["DeleteMultipleObjects"])
            left = await oss.list_objects(bucket)
            return r, before, after, left

    r, before, after, left = run(go())
    assert r.success and len(r.deleted) == 30
    assert after[0] == before[0]  # no per-key DELETE
    assert after[1] - before[1] == 1
    assert [e.key for e in left.entries] == ["d2"]


def test_download_onto_dev_null_fifo_and_symlink(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    data = os.urandom(THRESHOLD + PART)  # ranged
    peer.put_object("obj", data)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with fifo.open("rb") as f:
            received.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.download(bucket, "obj", "/dev/null"),
                await oss.download(bucket, "obj", str(fifo)),
                await oss.download(bucket, "obj", str(link)),
            ]

    results = run(go())
    t.join(10)
    for r in results:
        assert r.success, r.error_message
    assert Path("/dev/null").is_char_device()
    assert fifo.is_fifo() and received == [data]
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.bin", "pipe", "real.bin"]


def test_download_anonymous_onto_dev_null(creds: Any, bucket: str, peer: oss2.Bucket) -> None:
    data = os.urandom(THRESHOLD + 10)
    peer.put_object("obj", data)

    async def go() -> Any:
        async with oss_session(creds) as oss:
            url = await oss.presign(bucket, "obj")
            return await oss.download_anonymous(url, "/dev/null")

    r = run(go())
    assert r.success, r.error_message
    assert r.bytes == len(data) and r.objects[0].crc64 == crc64(data)
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("stop_after", [1, None])
def test_blocking_iter_object(
    creds: Any, bucket: str, peer: oss2.Bucket, stop_after: int | None
) -> None:
    data = os.urandom(3 * PART + 5)
    peer.put_object("obj", data)
    from aio_helpers import SMALL

    with AgentBay(config=SMALL) as agent_bay:
        session = agent_bay.create().session
        init = session.oss.env_init(
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            creds.endpoint,
            creds.region,
        )
        assert init.success
        got = b""
        it = session.oss.iter_object(bucket, "obj")
        for i, chunk in enumerate(it):
            got += chunk
            if stop_after is not None and i + 1 >= stop_after:
                it.close()
                break
        if stop_after is None:
            assert got == data
        else:
            assert data.startswith(got) and 0 < len(got) < len(data)
        # The session still works after an iterator was left early.
        assert session.oss.download_bytes(bucket, "obj").data == data
        session.delete()


def test_copy_between_regions_is_a_clear_error_before_any_copy(tmp_path: Path) -> None:
    """OSS copies server-side only within a region: the caller is told so up front, for an
    object and a prefix, and the engine's copy (the fsspec filesystem's) says the same. The
    server alone refuses it too (EC 0016-00000306), for clients that do not ask first."""
    from agentbay_oss.aio.engine import Engine
    from agentbay_oss.server import LocalOssServer
    from tests.conftest import Creds

    srv = LocalOssServer(
        root=tmp_path / "root",
        access_key_id="ak",
        access_key_secret="sk",
        buckets=("near",),
        bucket_regions={"far": "cn-shanghai"},
    )
    srv.start()
    try:
        creds = Creds(srv.endpoint, "ak", "sk", None, srv.region)
        peer = oss2.Bucket(oss2.Auth("ak", "sk"), srv.endpoint, "near")
        peer.put_object("a/k", b"data")
        assert (
            oss2.Bucket(oss2.Auth("ak", "sk"), srv.endpoint, "far").get_bucket_location().location
            == "oss-cn-shanghai"
        )

        async def go() -> list[Any]:
            async with oss_session(creds) as oss:
                one = await oss.copy("near", "a/k", "far", "a/k")
                prefix = await oss.copy("near", "a/", "far", "b")
                same = await oss.copy("near", "a/k", "near", "b/k")
                engine = Engine.of(oss)
                try:
                    await engine.copy(engine.object("near", "a/k"), engine.object("far", "c"))
                except Exception as exc:  # the engine raises; AsyncOss returns results
                    raw: Any = exc
                return [one, prefix, same, raw]

        copies_before = srv.stats.requests["CopyObject"]
        one, prefix, same, raw = run(go())
        for failed in (one, prefix):
            assert not failed.success
            assert "cn-hangzhou" in failed.error_message and "cn-shanghai" in failed.error_message
            assert "same region" in failed.error_message
        assert "same region" in str(raw)
        assert same.success  # within the region, as before
        assert srv.stats.requests["CopyObject"] - copies_before == 1  # only `same` was sent
        assert (
            list(oss2.ObjectIterator(oss2.Bucket(oss2.Auth("ak", "sk"), srv.endpoint, "far"))) == []
        )

        with pytest.raises(oss2.exceptions.ServerError) as refused:  # the server's own rule
            oss2.Bucket(oss2.Auth("ak", "sk"), srv.endpoint, "far").copy_object("near", "a/k", "x")
        assert refused.value.status == 400
        assert refused.value.details.get("EC") == "0016-00000306"
    finally:
        srv.stop()
