"""Upload and download of files and directories against the local server, byte-exact."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import oss2
import pytest
from aio_helpers import PART, THRESHOLD, leftovers, oss_session, run, tree_of, write_file

from agentbay_oss.aio import ProgressEvent, TransferConfig
from agentbay_oss.protocol import planning
from agentbay_oss.protocol.crc64 import crc64

SIZES = [0, 1, PART - 1, PART, PART + 1, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 3 * PART + 7]


def test_files_of_edge_sizes_round_trip(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    sources = {size: write_file(tmp_path / "src" / f"f{size}", size, seed=size) for size in SIZES}

    async def main() -> None:
        async with oss_session(creds) as oss:
            for size, data in sources.items():
                up = await oss.upload(bucket, f"e/{size}.bin", str(tmp_path / "src" / f"f{size}"))
                assert up.success, up.error_message
                assert up.content.startswith("Upload success")
                assert (up.files, up.bytes) == (1, size)
                assert up.objects[0].crc64 == crc64(data)
                dest = tmp_path / "dst" / f"{size}.bin"
                down = await oss.download(bucket, f"e/{size}.bin", str(dest))
                assert down.success, down.error_message
                assert down.content.startswith("Download success")
                assert dest.read_bytes() == data
                assert down.objects[0].crc64 == crc64(data)

    run(main())
    for size, data in sources.items():
        head = peer.head_object(f"e/{size}.bin")
        assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(data)
        multipart = size >= THRESHOLD
        assert head.headers["ETag"].endswith(f'-{-(-size // PART)}"') == multipart
    assert leftovers(tmp_path) == []


def test_directory_round_trip_unicode_nested_and_empty_dirs(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.txt", 10)
    write_file(src / "ünï cødé" / "文件 1.bin", 3 * PART + 1)
    write_file(src / "deep" / "er" / "est" / "z", 0)
    write_file(src / "deep" / "big.bin", THRESHOLD + 5)
    (src / "empty").mkdir()
    (src / "deep" / "empty2").mkdir()
    os.symlink(src / "a.txt", src / "link-to-file")  # followed
    os.symlink(src / "deep", src / "link-to-dir")  # not followed
    events: list[ProgressEvent] = []

    async def main() -> None:
        async with oss_session(creds) as oss:
            up = await oss.upload(bucket, "tree", str(src), progress=events.append)
            assert up.success, up.error_message
            assert up.files == 5
            down = await oss.download(bucket, "tree/", str(tmp_path / "dst"))
            assert down.success, down.error_message
            assert down.files == 5
            # A key that names no object but has objects below it is a prefix too.
            again = await oss.download(bucket, "tree", str(tmp_path / "dst2"))
            assert again.success, again.error_message

    run(main())
    keys = sorted(o.key for o in oss2.ObjectIterator(peer))
    assert "tree/empty/" in keys and "tree/deep/empty2/" in keys
    assert not any(k.startswith("tree/link-to-dir") for k in keys)
    expected = tree_of(src)
    expected = {k: v for k, v in expected.items() if not k.startswith("link-to-dir")}
    expected["link-to-file"] = (src / "a.txt").read_bytes()
    assert tree_of(tmp_path / "dst") == expected
    assert tree_of(tmp_path / "dst2") == expected
    last = events[-1]
    assert (last.files_done, last.files_total, last.bytes_done) == (5, 5, last.bytes_total)
    assert last.totals_final


def test_key_forms_and_destinations(creds: Any, bucket: str, tmp_path: Path) -> None:
    data = write_file(tmp_path / "report.pdf", 1234)
    (tmp_path / "into").mkdir()

    async def main() -> None:
        async with oss_session(creds) as oss:
            up = await oss.upload(bucket, "reports/", str(tmp_path / "report.pdf"))
            assert up.success and up.objects[0].key == "reports/report.pdf"
            r = await oss.download(bucket, "reports/report.pdf", str(tmp_path / "into"))
            assert r.success, r.error_message
            r = await oss.download(bucket, "reports/report.pdf", str(tmp_path / "new") + os.sep)
            assert r.success, r.error_message
            r = await oss.download(bucket, "reports/report.pdf", str(tmp_path / "n" / "x.pdf"))
            assert r.success, r.error_message

    run(main())
    assert (tmp_path / "into" / "report.pdf").read_bytes() == data
    assert (tmp_path / "new" / "report.pdf").read_bytes() == data
    assert (tmp_path / "n" / "x.pdf").read_bytes() == data


def test_part_size_grows_when_too_many_parts(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning, "MAX_PARTS", 3)
    data = write_file(tmp_path / "f", 10 * PART)

    async def main() -> None:
        async with oss_session(creds) as oss:
            r = await oss.upload(bucket, "grown", str(tmp_path / "f"))
            assert r.success, r.error_message

    run(main())
    etag = peer.head_object("grown").headers["ETag"]
    assert etag.endswith('-3"')
    assert peer.get_object("grown").read() == data


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_signature_versions(creds: Any, bucket: str, tmp_path: Path, version: str) -> None:
    data = write_file(tmp_path / "f", THRESHOLD + 3)

    async def main() -> None:
        async with oss_session(creds, signature_version=version) as oss:
            r = await oss.upload(bucket, "k/v", str(tmp_path / "f"))
            assert r.success, r.error_message
            r = await oss.download(bucket, "k/v", str(tmp_path / "out"))
            assert r.success, r.error_message
            listing = await oss.list_objects(bucket, "k/")
            assert [e.key for e in listing.entries] == ["k/v"]
            for method_url in ("GET",):
                url = await oss.presign(bucket, "k/v", method_url)
                assert ("x-oss-signature=" in url) == (version == "v4")
                r = await oss.download_anonymous(url, str(tmp_path / "anon"))
                assert r.success, r.error_message

    run(main())
    assert (tmp_path / "out").read_bytes() == data
    assert (tmp_path / "anon").read_bytes() == data


def test_async_progress_hook_and_large_concurrency(creds: Any, bucket: str, tmp_path: Path) -> None:
    data = write_file(tmp_path / "f", 8 * PART + 11)
    seen: list[int] = []

    async def hook(event: ProgressEvent) -> None:
        seen.append(event.bytes_done)

    config = TransferConfig(part_size=PART, multipart_threshold=THRESHOLD, concurrency=16)

    async def main() -> None:
        async with oss_session(creds, config) as oss:
            r = await oss.upload(bucket, "p", str(tmp_path / "f"), progress=hook)
            assert r.success, r.error_message
            r = await oss.download(bucket, "p", str(tmp_path / "o"), progress=hook)
            assert r.success, r.error_message

    run(main())
    assert (tmp_path / "o").read_bytes() == data
    assert seen == sorted(seen[: len(seen) // 2]) + sorted(seen[len(seen) // 2 :])
    assert seen.count(len(data)) >= 2
    assert 9 <= len(seen) <= 30  # part granularity, not per 64 KiB chunk


def test_list_delete_presign_put(creds: Any, bucket: str, tmp_path: Path) -> None:
    data = write_file(tmp_path / "f", 500)

    async def main() -> None:
        async with oss_session(creds) as oss:
            for k in ("d/a", "d/b/c", "e"):
                assert (await oss.upload(bucket, k, str(tmp_path / "f"))).success
            flat = await oss.list_objects(bucket, "d/", delimiter="/")
            assert [e.key for e in flat.entries] == ["d/a"]
            assert flat.common_prefixes == ["d/b/"]
            url = await oss.presign(bucket, "put-me", "PUT", expires=60)
            r = await oss.upload_anonymous(url, str(tmp_path / "f"))
            assert r.success, r.error_message
            r = await oss.download(bucket, "put-me", str(tmp_path / "g"))
            assert r.success, r.error_message
            gone = await oss.delete_objects(bucket, "d", recursive=True)
            assert gone.success, gone.error_message
            assert sorted(gone.deleted) == ["d/a", "d/b/c"]
            one = await oss.delete_objects(bucket, "e")
            assert one.success and one.deleted == ["e"]
            left = await oss.list_objects(bucket)
            assert [e.key for e in left.entries] == ["put-me"]

    run(main())
    assert (tmp_path / "g").read_bytes() == data


def test_directory_transfers_use_a_bounded_number_of_tasks_and_files(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "many"
    src.mkdir()
    for i in range(400):
        (src / f"f{i:04d}").write_bytes(b"x" * (i % 7))
    peaks = {"tasks": 0, "fds": 0}

    def watch(event: ProgressEvent) -> None:
        peaks["tasks"] = max(peaks["tasks"], len(asyncio.all_tasks()))
        peaks["fds"] = max(peaks["fds"], len(os.listdir("/proc/self/fd")))

    async def main() -> None:
        async with oss_session(creds) as oss:  # concurrency 4
            r = await oss.upload(bucket, "m", str(src), progress=watch)
            assert r.success and r.files == 400, r.error_message
            r = await oss.download(bucket, "m/", str(tmp_path / "out"), progress=watch)
            assert r.success and r.files == 400, r.error_message

    run(main())
    assert 10 <= peaks["tasks"] <= 2 * 4 + 8  # 400 files, yet only the fixed pool
    assert peaks["fds"] < 100
    assert tree_of(tmp_path / "out") == tree_of(src)
