"""alibabacloud-oss-v2 (V4 default and V1, with and without STS, path style) drives the server."""

from __future__ import annotations

import io
import os
from pathlib import Path

import alibabacloud_oss_v2 as v2
import pytest

Env = tuple[v2.Client, str]


def _code(exc: pytest.ExceptionInfo[BaseException]) -> str:
    err: object = exc.value
    while isinstance(err, v2.exceptions.OperationError):  # wraps the ServiceError
        err = err.unwrap()
    assert isinstance(err, v2.exceptions.ServiceError), exc.value
    return str(err.code)


def test_objects_and_listing(v2_env: Env) -> None:
    c, bkt = v2_env
    data = os.urandom(777)
    put = c.put_object(
        v2.PutObjectRequest(
            bucket=bkt, key="dir/a b+c%?#ü", body=data, content_type="x/t", metadata={"tag": "one"}
        )
    )
    assert put.status_code == 200 and put.hash_crc64 is not None
    got = c.get_object(v2.GetObjectRequest(bucket=bkt, key="dir/a b+c%?#ü"))
    assert got.body.read() == data and got.content_type == "x/t" and got.metadata == {"tag": "one"}
    part = c.get_object(
        v2.GetObjectRequest(bucket=bkt, key="dir/a b+c%?#ü", range_header="bytes=7-16")
    )
    assert part.status_code == 206 and part.body.read() == data[7:17]
    assert part.content_range == "bytes 7-16/777"
    head = c.head_object(v2.HeadObjectRequest(bucket=bkt, key="dir/a b+c%?#ü"))
    assert (
        head.content_length == 777 and head.etag == put.etag and head.hash_crc64 == put.hash_crc64
    )
    meta = c.get_object_meta(v2.GetObjectMetaRequest(bucket=bkt, key="dir/a b+c%?#ü"))
    assert meta.content_length == 777
    assert c.is_object_exist(bkt, "dir/a b+c%?#ü") and not c.is_object_exist(bkt, "nope")
    assert c.is_bucket_exist(bkt)
    cp = c.copy_object(
        v2.CopyObjectRequest(
            bucket=bkt, key="copied", source_bucket=bkt, source_key="dir/a b+c%?#ü"
        )
    )
    assert cp.status_code == 200
    assert c.get_object(v2.GetObjectRequest(bucket=bkt, key="copied")).body.read() == data
    with pytest.raises(Exception) as exc:
        c.get_object(v2.GetObjectRequest(bucket=bkt, key="nope"))
    assert _code(exc) == "NoSuchKey"
    with pytest.raises(Exception) as exc:
        c.head_object(v2.HeadObjectRequest(bucket=bkt, key="nope"))
    assert _code(exc) == "NoSuchKey"  # decoded from x-oss-err on a HEAD
    for k in ["p/1", "p/2", "p/q/3", "top"]:
        c.put_object(v2.PutObjectRequest(bucket=bkt, key=k, body=b"x"))
    pages = list(
        c.list_objects_v2_paginator().iter_page(v2.ListObjectsV2Request(bucket=bkt, max_keys=2))
    )
    assert len(pages) == 3
    keys = [o.key for p in pages for o in (p.contents or [])]
    assert keys == sorted(["dir/a b+c%?#ü", "copied", "p/1", "p/2", "p/q/3", "top"])
    v1pages = list(
        c.list_objects_paginator().iter_page(v2.ListObjectsRequest(bucket=bkt, max_keys=4))
    )
    assert [o.key for p in v1pages for o in (p.contents or [])] == keys
    top = c.list_objects_v2(v2.ListObjectsV2Request(bucket=bkt, delimiter="/", prefix="p/"))
    assert [o.key for o in top.contents or []] == ["p/1", "p/2"]
    assert [cp.prefix for cp in top.common_prefixes or []] == ["p/q/"]
    deleted = c.delete_multiple_objects(
        v2.DeleteMultipleObjectsRequest(bucket=bkt, objects=[v2.DeleteObject(key=k) for k in keys])
    )
    assert sorted(d.key for d in deleted.deleted_objects or []) == sorted(keys)
    assert not c.list_objects_v2(v2.ListObjectsV2Request(bucket=bkt)).contents


def test_multipart_complete_all_and_parts(v2_env: Env) -> None:
    c, bkt = v2_env
    init = c.initiate_multipart_upload(v2.InitiateMultipartUploadRequest(bucket=bkt, key="m/obj"))
    parts = [os.urandom(100 * 1024), os.urandom(100 * 1024), b"end"]
    for i, body in enumerate(parts, 1):
        c.upload_part(
            v2.UploadPartRequest(
                bucket=bkt, key="m/obj", upload_id=init.upload_id, part_number=i, body=body
            )
        )
    listed = c.list_parts(
        v2.ListPartsRequest(bucket=bkt, key="m/obj", upload_id=init.upload_id, max_parts=2)
    )
    assert [p.part_number for p in listed.parts or []] == [1, 2] and listed.is_truncated
    ups = c.list_multipart_uploads(v2.ListMultipartUploadsRequest(bucket=bkt))
    assert [u.upload_id for u in ups.uploads or []] == [init.upload_id]
    done = c.complete_multipart_upload(
        v2.CompleteMultipartUploadRequest(
            bucket=bkt, key="m/obj", upload_id=init.upload_id, complete_all="yes"
        )
    )
    assert done.etag is not None and done.etag.strip('"').endswith("-3")
    got = c.get_object(v2.GetObjectRequest(bucket=bkt, key="m/obj"))
    assert got.body.read() == b"".join(parts)
    # Abort and explicit part list with bad ETag.
    init2 = c.initiate_multipart_upload(v2.InitiateMultipartUploadRequest(bucket=bkt, key="m/two"))
    c.upload_part(
        v2.UploadPartRequest(
            bucket=bkt, key="m/two", upload_id=init2.upload_id, part_number=1, body=b"x"
        )
    )
    with pytest.raises(Exception) as exc:
        c.complete_multipart_upload(
            v2.CompleteMultipartUploadRequest(
                bucket=bkt, key="m/two", upload_id=init2.upload_id,
                complete_multipart_upload=v2.CompleteMultipartUpload(
                    parts=[v2.UploadPart(part_number=1, etag='"00000000000000000000000000000000"')]
                ),
            )
        )  # fmt: skip
    assert _code(exc) == "InvalidPart"
    c.abort_multipart_upload(
        v2.AbortMultipartUploadRequest(bucket=bkt, key="m/two", upload_id=init2.upload_id)
    )
    assert not c.list_multipart_uploads(v2.ListMultipartUploadsRequest(bucket=bkt)).uploads


def test_uploader_downloader(v2_env: Env, tmp_path: Path) -> None:
    c, bkt = v2_env
    data = os.urandom(2 * 1024 * 1024 + 99)
    up = c.uploader(part_size=200 * 1024, parallel_num=4)
    result = up.upload_from(v2.PutObjectRequest(bucket=bkt, key="big"), io.BytesIO(data))
    assert result.etag is not None
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    up.upload_file(v2.PutObjectRequest(bucket=bkt, key="big-from-file"), str(src))
    down = c.downloader(part_size=256 * 1024, parallel_num=4)
    for key in ("big", "big-from-file"):
        dst = tmp_path / f"{key}.out"
        down.download_file(v2.GetObjectRequest(bucket=bkt, key=key), str(dst))
        assert dst.read_bytes() == data


def test_bucket_ops(v2_env: Env) -> None:
    c, bkt = v2_env
    name = bkt + "-x"
    c.put_bucket(v2.PutBucketRequest(bucket=name))
    listed = c.list_buckets(v2.ListBucketsRequest(prefix=name))
    assert [b.name for b in listed.buckets or []] == [name]
    info = c.get_bucket_info(v2.GetBucketInfoRequest(bucket=name))
    assert info.bucket_info is not None and info.bucket_info.name == name
    c.put_object(v2.PutObjectRequest(bucket=name, key="k", body=b"1"))
    with pytest.raises(Exception) as exc:
        c.delete_bucket(v2.DeleteBucketRequest(bucket=name))
    assert _code(exc) == "BucketNotEmpty"
    c.delete_object(v2.DeleteObjectRequest(bucket=name, key="k"))
    c.delete_bucket(v2.DeleteBucketRequest(bucket=name))
    assert not c.is_bucket_exist(name)
