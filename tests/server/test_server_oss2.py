"""oss2 (V1, V4, STS V1, STS V4) drives every operation of the local server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import oss2
import pytest
from oss2.models import PartInfo


def test_objects_metadata_ranges_conditions(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    data = os.urandom(1000)
    put = b.put_object(
        "obj.bin",
        data,
        headers={
            "Content-Type": "text/x-test",
            "x-oss-meta-color": "Blue",
            "Cache-Control": "no-cache",
        },
    )
    assert put.status == 200 and put.crc is not None
    got = b.get_object("obj.bin")
    assert got.read() == data
    assert got.headers["Content-Type"] == "text/x-test"
    assert got.headers["x-oss-meta-color"] == "Blue"
    assert got.headers["Cache-Control"] == "no-cache"
    assert got.headers["x-oss-object-type"] == "Normal"
    assert got.etag == put.etag
    # Range forms: a-b, a-, -n (oss2 checks the CRC of whole-object reads itself).
    assert b.get_object("obj.bin", byte_range=(10, 19)).read() == data[10:20]
    assert b.get_object("obj.bin", byte_range=(990, None)).read() == data[990:]
    assert b.get_object("obj.bin", byte_range=(None, 5)).read() == data[-5:]
    # Unsatisfiable range: whole object (200) by default, 416 with standard behaviour.
    whole = b.get_object("obj.bin", byte_range=(5000, 6000))
    assert whole.status == 200 and whole.read() == data
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.get_object(
            "obj.bin", byte_range=(5000, 6000), headers={"x-oss-range-behavior": "standard"}
        )
    assert exc.value.status == 416 and exc.value.code == "InvalidRange"
    head = b.head_object("obj.bin")
    assert head.content_length == 1000 and head.etag == put.etag
    assert int(head.headers["x-oss-hash-crc64ecma"]) == put.crc
    meta = b.get_object_meta("obj.bin")
    assert meta.content_length == 1000
    # Conditions: oss2 sends If-Match unquoted; Last-Modified compares at whole seconds.
    last_modified = head.headers["Last-Modified"]
    assert b.get_object("obj.bin", headers={"If-Match": put.etag}).read() == data
    assert b.get_object("obj.bin", headers={"If-Unmodified-Since": last_modified}).read() == data
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        b.get_object("obj.bin", headers={"If-Match": '"0123"'})
    with pytest.raises(oss2.exceptions.NotModified):
        b.get_object("obj.bin", headers={"If-None-Match": f'"{put.etag}"'})
    with pytest.raises(oss2.exceptions.NotModified):
        b.get_object("obj.bin", headers={"If-Modified-Since": last_modified})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        b.get_object("obj.bin", headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    # Copy with COPY and REPLACE directives.
    b.copy_object(b.bucket_name, "obj.bin", "copy 1")
    c1 = b.get_object("copy 1")
    assert c1.read() == data and c1.headers["x-oss-meta-color"] == "Blue"
    b.copy_object(
        b.bucket_name,
        "obj.bin",
        "copy 2",
        headers={
            "x-oss-metadata-directive": "REPLACE",
            "x-oss-meta-shape": "round",
            "Content-Type": "a/b",
        },
    )
    c2 = b.head_object("copy 2")
    assert c2.headers.get("x-oss-meta-shape") == "round" and "x-oss-meta-color" not in c2.headers
    assert c2.headers["Content-Type"] == "a/b"
    # Overwrite, forbid-overwrite, delete (also of a missing key).
    b.put_object("obj.bin", b"new")
    assert b.get_object("obj.bin").read() == b"new"
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.put_object("obj.bin", b"x", headers={"x-oss-forbid-overwrite": "true"})
    assert exc.value.code == "FileAlreadyExists"
    assert b.delete_object("obj.bin").status == 204
    assert b.delete_object("obj.bin").status == 204
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object("obj.bin")
    with pytest.raises(oss2.exceptions.NotFound):
        b.head_object("obj.bin")
    assert b.object_exists("copy 1") and not b.object_exists("obj.bin")
    # Empty object.
    b.put_object("empty", b"")
    assert b.get_object("empty").read() == b""
    assert b.head_object("empty").content_length == 0


def test_listing_v1_v2_pagination(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    keys = ["a/1", "a/2", "a/b/3", "b", "c/", "c/x", "d e+f", "z%"]
    for k in keys:
        b.put_object(k, k.encode())
    assert [o.key for o in oss2.ObjectIterator(b, max_keys=2)] == keys
    assert [o.key for o in oss2.ObjectIteratorV2(b, max_keys=3)] == keys
    top = b.list_objects(delimiter="/")
    assert [o.key for o in top.object_list] == ["b", "d e+f", "z%"]
    assert top.prefix_list == ["a/", "c/"]
    # Paging with a delimiter never repeats a common prefix.
    seen = [
        (o.key if not o.is_prefix() else "P:" + o.key)
        for o in oss2.ObjectIterator(b, delimiter="/", max_keys=1)
    ]
    assert seen == ["P:a/", "b", "P:c/", "d e+f", "z%"]
    seen2 = [
        (o.key if not o.is_prefix() else "P:" + o.key)
        for o in oss2.ObjectIteratorV2(b, delimiter="/", max_keys=1)
    ]
    assert seen2 == seen
    under_a = b.list_objects(prefix="a/", delimiter="/")
    assert [o.key for o in under_a.object_list] == ["a/1", "a/2"] and under_a.prefix_list == [
        "a/b/"
    ]
    page = b.list_objects(marker="a/2", max_keys=2)
    assert (
        [o.key for o in page.object_list] == ["a/b/3", "b"]
        and page.is_truncated
        and page.next_marker == "b"
    )
    v2page = b.list_objects_v2(start_after="c/", max_keys=100)
    assert [o.key for o in v2page.object_list] == ["c/x", "d e+f", "z%"] and not v2page.is_truncated
    owner = b.list_objects_v2(fetch_owner=True, max_keys=1)
    assert owner.object_list[0].owner is not None
    assert b.list_objects(prefix="nothing").object_list == []
    # Batch delete, URL-encoded keys in both directions.
    result = b.batch_delete_objects(["a/1", "d e+f", "z%", "missing"])
    assert sorted(result.deleted_keys) == sorted(["a/1", "d e+f", "z%", "missing"])
    assert [o.key for o in oss2.ObjectIterator(b)] == ["a/2", "a/b/3", "b", "c/", "c/x"]


def test_multipart_and_bucket_lifecycle(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    part = os.urandom(100 * 1024)
    up = b.init_multipart_upload("mp/obj", headers={"Content-Type": "x/y", "x-oss-meta-k": "v"})
    r1 = b.upload_part("mp/obj", up.upload_id, 1, part)
    r2 = b.upload_part("mp/obj", up.upload_id, 2, b"tail")
    listed = b.list_parts("mp/obj", up.upload_id)
    assert [(p.part_number, p.size, p.etag) for p in listed.parts] == [
        (1, len(part), r1.etag),
        (2, 4, r2.etag),
    ]
    uploads = b.list_multipart_uploads()
    assert [(u.key, u.upload_id) for u in uploads.upload_list] == [("mp/obj", up.upload_id)]
    done = b.complete_multipart_upload(
        "mp/obj", up.upload_id, [PartInfo(1, r1.etag), PartInfo(2, r2.etag)]
    )
    assert done.etag.endswith("-2")
    got = b.get_object("mp/obj")
    assert got.read() == part + b"tail"
    assert got.headers["x-oss-object-type"] == "Multipart"
    assert got.headers["Content-Type"] == "x/y" and got.headers["x-oss-meta-k"] == "v"
    assert (
        b.get_object("mp/obj", byte_range=(len(part) - 2, len(part) + 1)).read()
        == part[-2:] + b"ta"
    )
    # Abort leaves nothing.
    up2 = b.init_multipart_upload("mp/aborted")
    b.upload_part("mp/aborted", up2.upload_id, 1, b"x")
    b.abort_multipart_upload("mp/aborted", up2.upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.list_parts("mp/aborted", up2.upload_id)
    assert b.list_multipart_uploads().upload_list == []
    # Bucket lifecycle through the API: info, not-empty, delete.
    assert b.get_bucket_info().name == b.bucket_name
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        b.delete_bucket()
    b.batch_delete_objects(["mp/obj"])
    b.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_object("x")


def test_create_list_buckets(oss2_bucket: oss2.Bucket) -> None:
    auth, endpoint = oss2_bucket.auth, oss2_bucket.endpoint
    name = oss2_bucket.bucket_name + "-new"
    nb = oss2.Bucket(auth, endpoint, name, region="cn-hangzhou")
    nb.create_bucket()
    names = [
        x.name for x in oss2.BucketIterator(oss2.Service(auth, endpoint, region="cn-hangzhou"))
    ]
    assert name in names and oss2_bucket.bucket_name in names
    nb.delete_bucket()
    assert name not in [
        x.name for x in oss2.BucketIterator(oss2.Service(auth, endpoint, region="cn-hangzhou"))
    ]


def test_resumable_upload_download_4_threads(oss2_bucket: oss2.Bucket, tmp_path: Path) -> None:
    b = oss2_bucket
    src = tmp_path / "src.bin"
    data = os.urandom(3 * 1024 * 1024 + 123)
    src.write_bytes(data)
    store = tmp_path / "store"
    result = oss2.resumable_upload(
        b, "big/file", str(src), multipart_threshold=200 * 1024, part_size=256 * 1024, num_threads=4,
        store=oss2.ResumableStore(root=str(store)),
    )  # fmt: skip
    assert result.etag.endswith("-13")
    dst = tmp_path / "dst.bin"
    oss2.resumable_download(
        b, "big/file", str(dst), multiget_threshold=200 * 1024, part_size=256 * 1024, num_threads=4,
        store=oss2.ResumableDownloadStore(root=str(store)),
    )  # fmt: skip
    assert dst.read_bytes() == data
    # The multipart object's CRC header is the combined CRC; oss2 verifies it on a full GET.
    assert b.get_object("big/file").read() == data


def test_upload_part_copy(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    data = os.urandom(300 * 1024)
    b.put_object("src", data)
    up = b.init_multipart_upload("dst")
    p1 = b.upload_part_copy(b.bucket_name, "src", (0, 199 * 1024), "dst", up.upload_id, 1)
    p2 = b.upload_part_copy(
        b.bucket_name, "src", (199 * 1024 + 1, len(data) - 1), "dst", up.upload_id, 2
    )
    b.complete_multipart_upload("dst", up.upload_id, [PartInfo(1, p1.etag), PartInfo(2, p2.etag)])
    assert b.get_object("dst").read() == data


def test_last_modified_whole_seconds(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    b.put_object("t", b"x")
    head = b.head_object("t")
    listed = next(iter(oss2.ObjectIterator(b)))
    assert listed.last_modified == head.last_modified
    assert abs(head.last_modified - time.time()) < 60


def test_response_overrides_and_copy_conditions(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    put = b.put_object("src", b"body")
    got = b.get_object(
        "src",
        params={
            "response-content-type": "text/plain",
            "response-content-disposition": "attachment",
        },
    )
    assert got.headers["Content-Type"] == "text/plain"
    assert got.headers["Content-Disposition"] == "attachment"
    b.copy_object(b.bucket_name, "src", "dst", headers={"x-oss-copy-source-if-match": put.etag})
    assert b.get_object("dst").read() == b"body"
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        b.copy_object(
            b.bucket_name, "src", "dst2", headers={"x-oss-copy-source-if-match": '"nope"'}
        )
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.copy_object(b.bucket_name, "missing", "dst3")
    assert not b.object_exists("dst2")
