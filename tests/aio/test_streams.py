"""Streams and bytes: upload_stream, download_stream, iter_object, download_bytes.

Each transfer is judged by oss2 (what it reads back, the multipart uploads left) over real
sockets against the local server.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import oss2
import pytest
from aio_helpers import PART, THRESHOLD, KiB, oss_session, run

from agentbay_oss.protocol.crc64 import crc64

BIG = 5 * PART + 1234  # multipart: more parts than the concurrency of 4
SMALL_BODY = 1000


def _data(n: int) -> bytes:
    return os.urandom(n)


def _uploads_left(peer: oss2.Bucket) -> list[Any]:
    return list(oss2.MultipartUploadIterator(peer))


def _chunks(data: bytes, size: int = 7 * KiB) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _achunks(data: bytes, size: int = 13 * KiB) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize(
    "kind", ["bytes", "bytearray", "memoryview", "bytesio", "file", "generator", "async_gen"]
)
@pytest.mark.parametrize("size", [0, SMALL_BODY, THRESHOLD, BIG])
def test_upload_stream_sources(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path, kind: str, size: int
) -> None:
    data = _data(size)
    path = tmp_path / "src.bin"
    path.write_bytes(data)

    async def go() -> Any:
        async with oss_session(creds) as oss:
            sources: dict[str, Any] = {
                "bytes": lambda: data,
                "bytearray": lambda: bytearray(data),
                "memoryview": lambda: memoryview(data),
                "bytesio": lambda: io.BytesIO(data),
                "generator": lambda: _chunks(data),
                "async_gen": lambda: _achunks(data),
            }
            if kind == "file":
                with path.open("rb") as f:
                    return await oss.upload_stream(bucket, "k.bin", f)
            return await oss.upload_stream(bucket, "k.bin", sources[kind]())

    r = run(go())
    assert r.success, r.error_message
    assert r.bytes == size and r.objects[0].crc64 == crc64(data)
    assert peer.get_object("k.bin").read() == data
    assert peer.head_object("k.bin").content_length == size
    assert _uploads_left(peer) == []


def test_upload_stream_small_goes_as_one_put_big_as_multipart(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket
) -> None:
    stats = oss_server.stats.requests
    before = (stats["PutObject"], stats["InitiateMultipartUpload"], stats["UploadPart"])
    small, big = _data(THRESHOLD - 1), _data(BIG)

    async def go() -> None:
        async with oss_session(creds) as oss:
            assert (await oss.upload_stream(bucket, "s", _chunks(small))).success
            assert (await oss.upload_stream(bucket, "b", _chunks(big))).success

    run(go())
    after = (stats["PutObject"], stats["InitiateMultipartUpload"], stats["UploadPart"])
    assert after[0] - before[0] == 1  # the short stream: one PutObject
    assert after[1] - before[1] == 1  # the long one: one multipart upload of 6 parts
    assert after[2] - before[2] == -(-BIG // PART)
    assert peer.get_object("b").read() == big


def test_upload_stream_content_type_and_metadata(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    async def go() -> Any:
        async with oss_session(creds) as oss:
            a = await oss.upload_stream(bucket, "page.html", b"<p>hi</p>")
            b = await oss.upload_stream(
                bucket,
                "data.bin",
                _chunks(_data(BIG)),
                content_type="application/x-test",
                metadata={"Owner": "ana", "run-id": "42"},
            )
            got = await oss.download_bytes(bucket, "data.bin")
            return a, b, got

    a, b, got = run(go())
    assert a.success and b.success, (a.error_message, b.error_message)
    assert peer.head_object("page.html").content_type == "text/html"
    head = peer.head_object("data.bin")
    assert head.content_type == "application/x-test"
    assert head.headers["x-oss-meta-owner"] == "ana"
    assert got.content_type == "application/x-test"
    assert got.metadata == {"owner": "ana", "run-id": "42"}


def test_upload_stream_bad_sources_fail_cleanly(creds: Any, bucket: str, peer: oss2.Bucket) -> None:
    def dies_midway() -> Iterator[bytes]:
        yield _data(THRESHOLD)
        yield _data(PART)
        raise RuntimeError("sensor unplugged")

    def yields_text() -> Iterator[Any]:
        yield b"x" * THRESHOLD
        yield "text"

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.upload_stream(bucket, "a", "a str"),
                await oss.upload_stream(bucket, "b", dies_midway()),
                await oss.upload_stream(bucket, "c", yields_text()),
                await oss.upload_stream(bucket, "d", 12345),
                await oss.upload_stream(bucket, "e", io.StringIO("text mode")),
                await oss.upload_stream(bucket, "f", b"x", metadata={"bad name": "v"}),
            ]

    results = run(go())
    for r in results:
        assert not r.success
    assert "sensor unplugged" in results[1].error_message
    assert "str" in results[2].error_message
    assert "text" in results[4].error_message
    assert "metadata name" in results[5].error_message
    assert [o.key for o in peer.list_objects().object_list] == []
    assert _uploads_left(peer) == []


def test_download_stream_iter_object_and_bytes(creds: Any, bucket: str, peer: oss2.Bucket) -> None:
    data = _data(BIG)
    peer.put_object("big.bin", data)
    peer.put_object("small.txt", b"hello")

    async def go() -> dict[str, Any]:
        async with oss_session(creds) as oss:
            out: dict[str, Any] = {}
            sink = io.BytesIO()
            out["stream"] = await oss.download_stream(bucket, "big.bin", sink)
            out["streamed"] = sink.getvalue()
            part = io.BytesIO()
            out["range"] = await oss.download_stream(
                bucket, "big.bin", part, offset=PART - 10, length=PART + 20
            )
            out["ranged"] = part.getvalue()
            out["iter"] = b"".join([c async for c in oss.iter_object(bucket, "big.bin")])
            out["iter_tail"] = b"".join(
                [c async for c in oss.iter_object(bucket, "big.bin", offset=BIG - 5)]
            )
            out["bytes"] = await oss.download_bytes(bucket, "small.txt")
            out["too_big"] = await oss.download_bytes(bucket, "big.bin", max_size=PART)
            return out

    out = run(go())
    assert out["stream"].success, out["stream"].error_message
    assert out["streamed"] == data
    assert out["stream"].objects[0].crc64 == crc64(data)
    assert out["range"].success and out["ranged"] == data[PART - 10 : 2 * PART + 10]
    assert out["iter"] == data
    assert out["iter_tail"] == data[-5:]
    assert out["bytes"].success and out["bytes"].data == b"hello"
    assert "hello" not in repr(out["bytes"])
    assert not out["too_big"].success and "max_size" in out["too_big"].error_message


def test_iter_object_stops_when_left_early(creds: Any, bucket: str, oss_server: Any) -> None:
    data = _data(40 * PART)
    run(_put(creds, bucket, "huge.bin", data))
    before = oss_server.stats.requests["GetObject"]

    async def go() -> bytes:
        async with oss_session(creds) as oss:
            it = oss.iter_object(bucket, "huge.bin")
            first = await it.__anext__()
            await it.aclose()
            return first

    first = run(go())
    assert data.startswith(first)
    # Read-ahead is bounded by concurrency + 1 ranges, never the whole object.
    assert oss_server.stats.requests["GetObject"] - before <= 4 + 1


def test_download_stream_writer_failures(creds: Any, bucket: str, peer: oss2.Bucket) -> None:
    peer.put_object("big.bin", _data(BIG))

    class Breaks(io.RawIOBase):
        def __init__(self) -> None:
            self.seen = 0

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.seen += len(b)
            if self.seen > PART:
                raise BrokenPipeError("reader went away")
            return len(b)

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            closed = io.BytesIO()
            closed.close()
            return [
                await oss.download_stream(bucket, "big.bin", closed),
                await oss.download_stream(bucket, "big.bin", Breaks()),
                await oss.download_stream(bucket, "big.bin", object()),
                await oss.download_stream(bucket, "missing", io.BytesIO()),
                await oss.download_stream(bucket, "big.bin", io.BytesIO(), offset=BIG + 1),
            ]

    closed, broken, nonsense, missing, beyond = run(go())
    assert not closed.success and "closed" in closed.error_message
    assert not broken.success and "reader went away" in broken.error_message
    assert not nonsense.success and "write" in nonsense.error_message
    assert not missing.success and "NoSuchKey" in missing.error_message
    assert not beyond.success and "beyond" in beyond.error_message


async def _put(creds: Any, bucket: str, key: str, data: bytes) -> None:
    async with oss_session(creds) as oss:
        r = await oss.upload_stream(bucket, key, data)
        assert r.success, r.error_message


def test_iter_objects_pages_async_and_blocking(creds: Any, bucket: str, peer: oss2.Bucket) -> None:
    for i in range(5):
        peer.put_object(f"p/{i}", b"x")
    peer.put_object("p/sub/deep", b"y")

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [page async for page in oss.iter_objects(bucket, "p/", delimiter="/")]

    pages = run(go())
    assert [e.key for p in pages for e in p.entries] == [f"p/{i}" for i in range(5)]
    assert [c for p in pages for c in p.common_prefixes] == ["p/sub/"]

    from aio_helpers import SMALL

    from agentbay_oss import AgentBay, NotFoundError

    with AgentBay(config=SMALL) as agent_bay:
        session = agent_bay.create().session
        session.oss.env_init(
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            creds.endpoint,
            creds.region,
        ).raise_for_error()
        keys = [e.key for page in session.oss.iter_objects(bucket, "p/") for e in page.entries]
        assert keys == [*(f"p/{i}" for i in range(5)), "p/sub/deep"]
        with pytest.raises(NotFoundError):
            list(session.oss.iter_objects("no-such-bucket-x", ""))
        session.delete()


def test_metadata_round_trip_through_upload_and_download(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    tree = tmp_path / "site"
    (tree / "css").mkdir(parents=True)
    (tree / "index.html").write_bytes(b"<html/>")
    (tree / "css" / "a.css").write_bytes(b"p{}")
    big = tmp_path / "big.bin"
    big.write_bytes(_data(THRESHOLD + 1))
    seen: list[Any] = []

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            up = await oss.upload(bucket, "site", str(tree), metadata={"build": "42"})
            up_big = await oss.upload(
                bucket, "big.bin", str(big), content_type="application/x-big", metadata={"a": "b"}
            )
            down = await oss.download(bucket, "site/", str(tmp_path / "out"), on_object=seen.append)
            down_big = await oss.download(bucket, "big.bin", str(tmp_path / "big.out"))
            return [up, up_big, down, down_big]

    up, up_big, down, down_big = run(go())
    for r in (up, up_big, down, down_big):
        assert r.success, r.error_message
    assert peer.head_object("site/index.html").content_type == "text/html"
    assert peer.head_object("site/css/a.css").content_type == "text/css"
    assert peer.head_object("site/css/a.css").headers["x-oss-meta-build"] == "42"
    assert peer.head_object("big.bin").content_type == "application/x-big"
    got = {o.key: (o.content_type, o.metadata) for o in seen}
    src_mtime = (tree / "index.html").stat().st_mtime_ns
    assert got["site/index.html"] == ("text/html", {"build": "42", "mtime": str(src_mtime)})
    assert down_big.objects[0].content_type == "application/x-big"
    assert down_big.objects[0].metadata == {"a": "b", "mtime": str(big.stat().st_mtime_ns)}
    # Downloads give files the uploader's mtime (x-oss-meta-mtime), to the nanosecond.
    assert (tmp_path / "out" / "index.html").stat().st_mtime_ns == src_mtime
    assert (tmp_path / "big.out").stat().st_mtime_ns == big.stat().st_mtime_ns


@pytest.mark.parametrize("concurrency", [1, 4])
def test_stream_upload_reads_ahead_a_bounded_number_of_parts(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket, concurrency: int
) -> None:
    from aio_helpers import SMALL

    cfg = SMALL.model_copy(update={"concurrency": concurrency})
    stats = oss_server.stats.requests
    base = stats["UploadPart"]
    ahead: list[int] = []
    total = 30

    def parts() -> Iterator[bytes]:
        for i in range(total):
            # Parts handed over minus parts the server has begun to receive.
            ahead.append(i - (stats["UploadPart"] - base))
            yield bytes([i]) * PART

    async def go() -> Any:
        async with oss_session(creds, cfg) as oss:
            return await oss.upload_stream(bucket, "s", parts())

    r = run(go())
    assert r.success, r.error_message
    assert peer.get_object("s").read() == b"".join(bytes([i]) * PART for i in range(total))
    # The first THRESHOLD bytes, one part queued, one being read, one per worker.
    bound = THRESHOLD // PART + 1 + 1 + concurrency
    assert max(ahead) <= bound, ahead
    assert stats["UploadPart"] - base == total


def test_objects_from_other_tools_get_last_modified_as_mtime(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    peer.put_object("small", b"x")
    peer.put_object("big", _data(THRESHOLD + 1))
    stamp = peer.head_object("big").last_modified  # seconds since the epoch

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.download(bucket, "small", str(tmp_path / "small")),
                await oss.download(bucket, "big", str(tmp_path / "big")),
            ]

    for r in run(go()):
        assert r.success, r.error_message
    assert int((tmp_path / "big").stat().st_mtime) == stamp
    assert abs(int((tmp_path / "small").stat().st_mtime) - stamp) <= 2


def test_directory_results_keep_counts_and_stream_objects(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    tree = tmp_path / "t"
    for i in range(25):
        (tree / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 3}" / f"f{i}").write_bytes(b"x" * i)
    (tree / "empty").mkdir()
    seen_up: list[Any] = []
    seen_down: list[Any] = []
    seen_copy: list[Any] = []

    async def record(obj: Any) -> None:  # async hooks are awaited
        seen_down.append(obj)

    async def go() -> list[Any]:
        async with oss_session(creds) as oss:
            return [
                await oss.upload(bucket, "t", str(tree), on_object=seen_up.append),
                await oss.download(bucket, "t/", str(tmp_path / "out"), on_object=record),
                await oss.copy(bucket, "t/", bucket, "c/", on_object=seen_copy.append),
            ]

    up, down, cp = run(go())
    for r in (up, down, cp):
        assert r.success, r.error_message
        assert r.objects == [] and r.files == 25 and r.bytes == sum(range(25))
    assert sorted(o.key for o in seen_up) == sorted(
        [f"t/d{i % 3}/f{i}" for i in range(25)] + ["t/empty/"]
    )
    assert len(seen_down) == 26 and len(seen_copy) == 26


def test_single_puts_over_a_mib_send_without_warnings(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    """One PutObject of several MiB (below the default multipart threshold), from bytes and
    from a file: no aiohttp "large body" ResourceWarning (warnings are errors here)."""
    from agentbay_oss.aio import TransferConfig

    data = _data(3 * 2**20 + 5)
    (tmp_path / "f.bin").write_bytes(data)

    async def go() -> list[Any]:
        async with oss_session(creds, TransferConfig()) as oss:
            return [
                await oss.upload_stream(bucket, "s", data),
                await oss.upload(bucket, "f", str(tmp_path / "f.bin")),
            ]

    for r in run(go()):
        assert r.success, r.error_message
    assert peer.get_object("s").read() == data and peer.get_object("f").read() == data


def test_listing_reads_a_bounded_number_of_pages_ahead(
    creds: Any, bucket: str, oss_server: Any, peer: oss2.Bucket
) -> None:
    import asyncio
    import time

    from agentbay_oss.aio._client import LIST_AHEAD

    for i in range(12):
        peer.put_object(f"la/{i:02}", b"x")
    stats = oss_server.stats.requests
    bound = LIST_AHEAD + 1  # pages waiting, and one in the fetcher's hand
    ahead: list[int] = []

    async def go() -> list[str]:
        async with oss_session(creds) as oss:
            client = oss._require()
            base = stats["ListObjectsV2"]
            got: list[str] = []
            async for page in client.iter_list(bucket, "la/", page_size=1):
                got += [e.key for e in page.entries]
                if len(got) == 1:  # a slow caller: the fetcher runs ahead, up to the bound
                    deadline = time.monotonic() + 30
                    while stats["ListObjectsV2"] - base < 1 + bound:
                        assert time.monotonic() < deadline, "the listing did not read ahead"
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(0.2)  # and no further
                ahead.append(stats["ListObjectsV2"] - base - len(got))
            return got

    assert run(go()) == [f"la/{i:02}" for i in range(12)]
    assert ahead[0] == bound and max(ahead) == bound, ahead
