"""OssFileSystem against the local server: directories, the listing cache, ranged reads,
streamed writes (and their abort), transfers with callbacks, URLs, errors."""

from __future__ import annotations

import os
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import oss2
import pytest
from fsspec.callbacks import Callback

from agentbay_oss.fsspec import OssFileSystem
from agentbay_oss.protocol.crc64 import crc64
from agentbay_oss.server import LocalOssServer

KiB = 1024
MiB = 1024 * KiB


def sent(server: LocalOssServer, expected: int) -> int:
    """The server's count of body bytes sent, once it reaches `expected` (it counts a body
    after writing it, so the client can see the bytes first) or after a second."""
    deadline = time.monotonic() + 1.0
    while server.stats.bytes_sent < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.02)  # and nothing more comes
    return server.stats.bytes_sent


def stored(fs: OssFileSystem, server: LocalOssServer, path: str, data: bytes) -> None:
    """`data` at `path`; the server's counts start from zero after it."""
    fs.pipe(path, data)
    server.stats.reset()


@pytest.fixture
def small_parts(storage_options: dict[str, Any]) -> OssFileSystem:
    """Multipart from 100 KiB on, so a few hundred KiB exercise every multipart path."""
    return OssFileSystem(
        **storage_options,
        part_size=100 * KiB,
        multipart_threshold=100 * KiB,
        concurrency=2,
        skip_instance_cache=True,
    )


def test_directories_are_prefixes_and_markers(ossfs: OssFileSystem, bucket: str) -> None:
    ossfs.pipe({f"{bucket}/a/x.txt": b"x", f"{bucket}/a/b/y.txt": b"yy", f"{bucket}/top": b""})
    ossfs.mkdir(f"{bucket}/empty")  # a marker object `empty/`
    ossfs.mkdir(f"{bucket}/a/b")  # a marker inside a directory that has objects
    assert ossfs.ls(bucket, detail=False) == [f"{bucket}/top", f"{bucket}/a", f"{bucket}/empty"]
    assert ossfs.ls(f"{bucket}/empty") == []
    assert ossfs.ls(f"{bucket}/a/b", detail=False) == [f"{bucket}/a/b/y.txt"]  # marker hidden
    assert ossfs.info(f"{bucket}/empty")["type"] == "directory"
    assert ossfs.isdir(f"{bucket}/a") and not ossfs.isfile(f"{bucket}/a")
    assert ossfs.isfile(f"{bucket}/a/x.txt") and not ossfs.isdir(f"{bucket}/a/x.txt")
    assert ossfs.ls(f"{bucket}/a/x.txt", detail=False) == [f"{bucket}/a/x.txt"]
    assert not ossfs.exists(f"{bucket}/nope")
    with pytest.raises(FileNotFoundError):
        ossfs.ls(f"{bucket}/nope")
    with pytest.raises(FileNotFoundError):
        ossfs.info("no-such-bucket-here-1/x")
    with pytest.raises(FileExistsError):
        ossfs.mkdir(f"{bucket}/top")  # an object of that name
    with pytest.raises(FileExistsError):
        ossfs.makedirs(f"{bucket}/a")
    ossfs.makedirs(f"{bucket}/a", exist_ok=True)


def test_find_streams_one_listing(
    ossfs: OssFileSystem, bucket: str, oss_server: LocalOssServer
) -> None:
    ossfs.pipe({f"{bucket}/d/{i}/f{j}": b"." for i in range(3) for j in range(2)})
    ossfs.mkdir(f"{bucket}/d/empty")
    ossfs.invalidate_cache()
    oss_server.stats.reset()
    files = ossfs.find(f"{bucket}/d")
    assert oss_server.stats.requests["ListObjectsV2"] == 1  # one flat listing, no walk
    assert files == sorted(f"{bucket}/d/{i}/f{j}" for i in range(3) for j in range(2))
    both = ossfs.find(f"{bucket}/d", withdirs=True)
    assert {f"{bucket}/d", f"{bucket}/d/0", f"{bucket}/d/empty"} <= set(both)
    assert ossfs.find(f"{bucket}/d", maxdepth=1, withdirs=True) == [
        f"{bucket}/d",
        f"{bucket}/d/0",
        f"{bucket}/d/1",
        f"{bucket}/d/2",
        f"{bucket}/d/empty",
    ]
    assert ossfs.find(f"{bucket}/d/0/f0") == [f"{bucket}/d/0/f0"]  # a file finds itself
    assert ossfs.du(f"{bucket}/d") == 6
    # After find, infos and isdir of what it saw come from the cache.
    oss_server.stats.reset()
    assert ossfs.isdir(f"{bucket}/d/1") and ossfs.info(f"{bucket}/d/2/f1")["size"] == 1
    assert ossfs.isdir(f"{bucket}/d/empty")
    assert oss_server.stats.total_requests == 0


def test_listing_cache_invalidated_by_every_write(
    ossfs: OssFileSystem, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    d = f"{bucket}/dir"
    ossfs.pipe(f"{d}/a", b"a")
    assert ossfs.ls(d, detail=False) == [f"{d}/a"]
    oss_server.stats.reset()
    assert ossfs.ls(d, detail=False) == [f"{d}/a"]
    assert oss_server.stats.total_requests == 0  # served from the cache

    def names() -> list[str]:
        return sorted(ossfs.ls(d, detail=False))

    ossfs.pipe(f"{d}/b", b"b")
    assert names() == [f"{d}/a", f"{d}/b"]
    ossfs.cp(f"{d}/a", f"{d}/c")
    assert names() == [f"{d}/a", f"{d}/b", f"{d}/c"]
    with ossfs.open(f"{d}/e", "wb") as f:
        f.write(b"e")
    assert names() == [f"{d}/a", f"{d}/b", f"{d}/c", f"{d}/e"]
    local = tmp_path / "f"
    local.write_bytes(b"f")
    ossfs.put_file(str(local), f"{d}/f")
    assert f"{d}/f" in names()
    ossfs.mkdir(f"{d}/sub")
    assert f"{d}/sub" in names()
    ossfs.rm_file(f"{d}/a")
    assert f"{d}/a" not in names()
    ossfs.rm([f"{d}/b", f"{d}/c"])
    assert names() == [f"{d}/e", f"{d}/f", f"{d}/sub"]
    ossfs.mv(f"{d}/e", f"{d}/g")
    assert names() == [f"{d}/f", f"{d}/g", f"{d}/sub"]
    # A new directory deep down shows up in every listing above it.
    assert ossfs.ls(bucket, detail=False) == [f"{bucket}/dir"]
    ossfs.pipe(f"{bucket}/new/deep/x", b"x")
    assert f"{bucket}/new" in ossfs.ls(bucket, detail=False)
    ossfs.rm(f"{bucket}/new", recursive=True)
    assert ossfs.ls(bucket, detail=False) == [f"{bucket}/dir"]
    # Nothing in the cache was stale: it agrees with a fresh listing.
    assert names() == sorted(ossfs.ls(d, detail=False, refresh=True))


def test_cat_of_a_small_range_fetches_only_that_range(
    ossfs: OssFileSystem, bucket: str, oss_server: LocalOssServer
) -> None:
    data = os.urandom(3 * MiB)
    path = f"{bucket}/big.bin"
    stored(ossfs, oss_server, path, data)
    assert ossfs.cat_file(path, start=1000, end=1100) == data[1000:1100]
    assert oss_server.stats.requests["GetObject"] == 1
    assert sent(oss_server, 100) == 100
    assert ossfs.cat_file(path, start=-10) == data[-10:]
    assert ossfs.cat_file(path, start=5, end=-5) == data[5:-5]
    assert ossfs.cat_file(path, start=len(data) + 5) == b""
    assert ossfs.cat(path) == data


def test_cat_of_small_objects_is_one_get_each(
    ossfs: OssFileSystem, bucket: str, oss_server: LocalOssServer
) -> None:
    """No HEAD before a GET: the answer tells size and ETag. A missing key is still a
    FileNotFoundError, from that one GET."""
    blobs = {f"{bucket}/s{i}": os.urandom(4 * KiB + i) for i in range(5)}
    blobs[f"{bucket}/empty"] = b""
    ossfs.pipe(blobs)
    oss_server.stats.reset()
    assert ossfs.cat(list(blobs)) == blobs
    assert oss_server.stats.requests["GetObject"] == len(blobs)
    assert oss_server.stats.requests["HeadObject"] == 0
    oss_server.stats.reset()
    with pytest.raises(FileNotFoundError):
        ossfs.cat_file(f"{bucket}/missing")
    assert dict(oss_server.stats.requests) == {"GetObject": 1}
    some = [f"{bucket}/missing", f"{bucket}/s0"]
    got = ossfs.cat(some, on_error="return")
    assert isinstance(got[some[0]], FileNotFoundError) and got[some[1]] == blobs[some[1]]
    assert ossfs.cat(some, on_error="omit") == {some[1]: blobs[some[1]]}
    with pytest.raises(FileNotFoundError):
        ossfs.cat(some)
    assert ossfs.cat_file(f"{bucket}/s1", start=10) == blobs[f"{bucket}/s1"][10:]
    assert ossfs.cat_file(f"{bucket}/s1", start=10, end=20) == blobs[f"{bucket}/s1"][10:20]
    assert ossfs.cat_file(f"{bucket}/s1", start=9000) == b""
    assert ossfs.cat_file(f"{bucket}/empty", start=0, end=5) == b""


def test_cat_of_an_object_larger_than_a_part(
    small_parts: OssFileSystem, bucket: str, oss_server: LocalOssServer
) -> None:
    """The first GET asks for one part; the rest comes in ranges pinned by its ETag."""
    data = os.urandom(350 * KiB)
    path = f"{bucket}/several-parts"
    stored(small_parts, oss_server, path, data)
    assert small_parts.cat_file(path) == data
    assert dict(oss_server.stats.requests) == {"GetObject": 4}  # 100 + 100 + 100 + 50 KiB
    assert sent(oss_server, len(data)) == len(data)
    oss_server.stats.reset()
    assert small_parts.cat_file(path, start=50 * KiB, end=210 * KiB) == data[50 * KiB : 210 * KiB]
    assert dict(oss_server.stats.requests) == {"GetObject": 2}


def test_cat_ranges_one_head_per_object(
    ossfs: OssFileSystem, bucket: str, oss_server: LocalOssServer
) -> None:
    blobs = {f"{bucket}/r{i}": os.urandom(10 * KiB) for i in range(3)}
    ossfs.pipe(blobs)
    paths = [p for p in blobs for _ in range(4)]
    starts = [i * 100 for i in range(len(paths))]
    ends = [s + 50 for s in starts]
    oss_server.stats.reset()
    got = ossfs.cat_ranges(paths, starts, ends)
    assert got == [blobs[p][s:e] for p, s, e in zip(paths, starts, ends, strict=True)]
    assert oss_server.stats.requests["HeadObject"] == 3
    assert oss_server.stats.requests["GetObject"] == len(paths)
    assert sent(oss_server, 50 * len(paths)) == 50 * len(paths)
    out = ossfs.cat_ranges([f"{bucket}/missing", paths[0]], 0, 10)
    assert isinstance(out[0], FileNotFoundError) and out[1] == blobs[paths[0]][:10]
    # Many whole objects in one call.
    assert ossfs.cat(list(blobs)) == blobs


def test_reading_a_file_footer_first(
    ossfs: OssFileSystem, bucket: str, oss_server: LocalOssServer
) -> None:
    """As Parquet readers do: the footer, then a column chunk somewhere, then a scan."""
    data = os.urandom(4 * MiB)
    path = f"{bucket}/table.bin"
    ossfs.pipe(path, data)
    oss_server.stats.reset()
    with ossfs.open(path, "rb") as f:
        f.seek(-8, 2)
        assert f.read() == data[-8:]
        f.seek(-2000, 2)
        assert f.read(1992) == data[-2000:-8]  # from the kept tail: no request
        f.seek(1 * MiB)
        assert f.read(3000) == data[MiB : MiB + 3000]  # exactly the chunk asked for
    assert oss_server.stats.requests["GetObject"] == 2
    assert sent(oss_server, 64 * KiB + 3000) == 64 * KiB + 3000
    with ossfs.open(path, "rb", block_size=256 * KiB) as f:  # sequential: read-ahead
        pieces = iter(lambda: f.read(10_000), b"")
        assert b"".join(pieces) == data
        assert f.cache.miss_count < len(data) // (256 * KiB) + 3


def test_write_streams_parts_and_close_completes(
    small_parts: OssFileSystem, bucket: str, oss_server: LocalOssServer, peer: oss2.Bucket
) -> None:
    chunks = [os.urandom(60 * KiB) for _ in range(12)]  # ~720 KiB
    oss_server.stats.reset()
    with small_parts.open(f"{bucket}/stream.bin", "wb", block_size=100 * KiB) as f:
        for c in chunks[:8]:
            f.write(c)
        # Parts go out while the file is still open (memory stays bounded).
        deadline = time.monotonic() + 5
        while oss_server.stats.requests["UploadPart"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert oss_server.stats.requests["UploadPart"] >= 2
        assert not small_parts.exists(f"{bucket}/stream.bin")
        for c in chunks[8:]:
            f.write(c)
    assert oss_server.stats.requests["CompleteMultipartUpload"] == 1
    data = b"".join(chunks)
    assert peer.get_object("stream.bin").read() == data
    assert small_parts.checksum(f"{bucket}/stream.bin") == crc64(data)
    assert peer.list_multipart_uploads().upload_list == []


def test_exception_in_with_aborts_the_upload(
    small_parts: OssFileSystem, bucket: str, peer: oss2.Bucket
) -> None:
    half = small_parts.open(f"{bucket}/half.bin", "wb", block_size=100 * KiB)
    with pytest.raises(RuntimeError, match="boom"), half as f:
        f.write(os.urandom(450 * KiB))
        # It had begun: the engine initiates it on the filesystem's loop, in its own time.
        deadline = time.monotonic() + 10
        while not peer.list_multipart_uploads().upload_list and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(peer.list_multipart_uploads().upload_list) == 1
        raise RuntimeError("boom")
    assert peer.list_multipart_uploads().upload_list == []  # aborted, not orphaned
    assert not small_parts.exists(f"{bucket}/half.bin")
    # Nor does a small file that never left its buffer get stored.
    with pytest.raises(RuntimeError), small_parts.open(f"{bucket}/tiny", "wb") as f:
        f.write(b"abc")
        raise RuntimeError
    assert not small_parts.exists(f"{bucket}/tiny")


def test_exclusive_writes(small_parts: OssFileSystem, bucket: str, tmp_path: Path) -> None:
    path = f"{bucket}/once"
    small_parts.pipe_file(path, b"1", mode="create")
    with pytest.raises(FileExistsError):
        small_parts.pipe_file(path, b"2", mode="create")
    local = tmp_path / "big"
    local.write_bytes(os.urandom(300 * KiB))
    with pytest.raises(FileExistsError):
        small_parts.put_file(str(local), path, mode="create")  # multipart: refused at initiate
    late = small_parts.open(f"{path}-late", "xb", block_size=100 * KiB)  # not there yet...
    small_parts.pipe_file(f"{path}-late", b"now there")  # ...someone else stores it meanwhile
    with pytest.raises(FileExistsError):  # so the streamed upload is refused at initiate
        late.write(os.urandom(250 * KiB))
        late.close()
    assert small_parts.cat(f"{path}-late") == b"now there"
    assert small_parts.cat(path) == b"1"


def test_exclusive_writes_checked_again_at_complete(
    small_parts: OssFileSystem, peer: oss2.Bucket, bucket: str, tmp_path: Path
) -> None:
    """An object stored by someone else after InitiateMultipartUpload is not replaced by our
    CompleteMultipartUpload either: x-oss-forbid-overwrite goes with both requests."""
    streamed = small_parts.open(f"{bucket}/streamed", "xb", block_size=100 * KiB)
    streamed.write(os.urandom(250 * KiB))  # two parts flushed: the upload has begun
    assert len(peer.list_multipart_uploads().upload_list) == 1
    peer.put_object("streamed", b"theirs")
    with pytest.raises(FileExistsError):
        streamed.close()
    assert peer.get_object("streamed").read() == b"theirs"
    # A multipart put_file: the other writer stores the object while our parts are sent.
    local = tmp_path / "big"
    local.write_bytes(os.urandom(350 * KiB))

    class Intruder(Callback):  # type: ignore[misc]
        def call(self, *args: Any, **kwargs: Any) -> None:
            if self.value and not peer.object_exists("put"):
                peer.put_object("put", b"theirs too")

    with pytest.raises(FileExistsError):
        small_parts.put_file(str(local), f"{bucket}/put", mode="create", callback=Intruder())
    assert peer.get_object("put").read() == b"theirs too"
    assert peer.list_multipart_uploads().upload_list == []  # both refused uploads aborted


def test_put_and_get_with_callbacks(
    small_parts: OssFileSystem, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    data = os.urandom(350 * KiB)
    src.write_bytes(data)

    class Record(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.values: list[int] = []

        def call(self, *args: Any, **kwargs: Any) -> None:
            self.values.append(self.value)

    up = Record()
    small_parts.put_file(str(src), f"{bucket}/p/src.bin", callback=up)
    assert up.size == len(data) and up.values[-1] == len(data) and len(up.values) >= 3
    down = Record()
    dest = tmp_path / "out" / "dst.bin"
    dest.parent.mkdir()
    small_parts.get_file(f"{bucket}/p/src.bin", str(dest), callback=down)
    assert dest.read_bytes() == data
    assert down.size == len(data) and down.values[-1] == len(data)
    # Whole trees both ways.
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "x").write_bytes(b"x")
    small_parts.put(str(tmp_path / "tree"), f"{bucket}/t", recursive=True)
    assert small_parts.cat(f"{bucket}/t/sub/x") == b"x"
    small_parts.get(f"{bucket}/t", str(tmp_path / "back"), recursive=True)
    assert (tmp_path / "back" / "sub" / "x").read_bytes() == b"x"


def test_info_size_modified_checksum_sign(ossfs: OssFileSystem, bucket: str) -> None:
    path = f"{bucket}/k.txt"
    ossfs.pipe(path, b"hello")
    info = ossfs.info(path)
    assert info["size"] == 5 and info["type"] == "file" and info["ETag"]
    assert ossfs.size(path) == 5
    assert isinstance(ossfs.modified(path), datetime)
    first = ossfs.checksum(path)
    assert first == crc64(b"hello")
    ossfs.pipe(path, b"world")
    assert ossfs.checksum(path) != first
    url = ossfs.sign(path, expiration=60)
    with urllib.request.urlopen(url, timeout=10) as r:  # the local server
        assert r.read() == b"world"


def test_errors_are_oserrors(ossfs: OssFileSystem, bucket: str) -> None:
    with pytest.raises(FileNotFoundError):
        ossfs.cat(f"{bucket}/missing")
    with pytest.raises(FileNotFoundError):
        ossfs.open(f"{bucket}/missing", "rb")
    with pytest.raises(NotImplementedError):
        ossfs.open(f"{bucket}/x", "ab")
    bad = OssFileSystem(
        endpoint=ossfs.endpoint, key="LTAIwrong", secret="nope", region="cn-hangzhou",
        skip_instance_cache=True,
    )  # fmt: skip
    with pytest.raises(PermissionError):
        bad.cat(f"{bucket}/x")
