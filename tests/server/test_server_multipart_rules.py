"""Multipart rules: part sizes, numbers, order, ETags, uploads that vanish."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import oss2
import pytest
from oss2.models import PartInfo
from server_testlib import error_code, signed

MIN = 100 * 1024


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(oss2.exceptions.OssError) as exc:
        call()
    return str(exc.value.code)


def test_part_rules(
    sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str, creds: Any
) -> None:
    b = sts_bucket_factory(bucket)
    up = b.init_multipart_upload("m")
    big = os.urandom(MIN)
    e1 = b.upload_part("m", up.upload_id, 1, b"small").etag
    e2 = b.upload_part("m", up.upload_id, 2, big).etag
    e3 = b.upload_part("m", up.upload_id, 3, b"last").etag
    # A part under 100 KiB that is not the last one.
    assert (
        _code(
            lambda: b.complete_multipart_upload(
                "m", up.upload_id, [PartInfo(1, e1), PartInfo(2, e2)]
            )
        )
        == "EntityTooSmall"
    )
    # Wrong ETag, missing part, wrong order, duplicates.
    assert (
        _code(lambda: b.complete_multipart_upload("m", up.upload_id, [PartInfo(2, e1)]))
        == "InvalidPart"
    )
    assert (
        _code(lambda: b.complete_multipart_upload("m", up.upload_id, [PartInfo(7, e1)]))
        == "InvalidPart"
    )
    # oss2 sorts the list itself: send the XML by hand for order and duplicates.
    for order in ([(3, e3), (2, e2)], [(2, e2), (2, e2)]):
        xml = (
            "<CompleteMultipartUpload>"
            + "".join(
                f'<Part><PartNumber>{n}</PartNumber><ETag>"{e}"</ETag></Part>' for n, e in order
            )
            + "</CompleteMultipartUpload>"
        )
        status, _, body = signed(
            creds, "POST", bucket, "m", body=xml.encode(), query=[("uploadId", up.upload_id)]
        )
        assert status == 400 and error_code(body) == "InvalidPartOrder"
    # Part numbers outside 1..10000.
    for number in ("0", "10001", "-1", "x"):
        status, _, body = signed(
            creds,
            "PUT",
            bucket,
            "m",
            body=b"x",
            query=[("partNumber", number), ("uploadId", up.upload_id)],
        )
        assert status == 400 and error_code(body) == "InvalidArgument", number
    # Re-uploading a part replaces it; a subset of parts (2, 3) completes; part 1 is dropped.
    b.upload_part("m", up.upload_id, 2, big[::-1])
    e2b = b.list_parts("m", up.upload_id).parts[1].etag
    assert e2b != e2
    done = b.complete_multipart_upload("m", up.upload_id, [PartInfo(2, e2b), PartInfo(3, e3)])
    assert done.etag.endswith("-2")
    assert b.get_object("m").read() == big[::-1] + b"last"
    # The upload is gone afterwards.
    assert _code(lambda: b.upload_part("m", up.upload_id, 4, b"late")) == "NoSuchUpload"
    assert (
        _code(lambda: b.complete_multipart_upload("m", up.upload_id, [PartInfo(3, e3)]))
        == "NoSuchUpload"
    )
    assert _code(lambda: b.abort_multipart_upload("m", up.upload_id)) == "NoSuchUpload"
    # An upload id belongs to its key.
    up2 = b.init_multipart_upload("other")
    assert _code(lambda: b.upload_part("m", up2.upload_id, 1, b"x")) == "NoSuchUpload"


def test_multipart_etag_and_crc_match_oss(
    sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str
) -> None:
    import hashlib

    from agentbay_oss.protocol.crc64 import crc64

    b = sts_bucket_factory(bucket)
    parts = [os.urandom(MIN), os.urandom(MIN + 1), b"end"]
    up = b.init_multipart_upload("m")
    infos = [
        PartInfo(i, b.upload_part("m", up.upload_id, i, p).etag) for i, p in enumerate(parts, 1)
    ]
    done = b.complete_multipart_upload("m", up.upload_id, infos)
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert done.etag == hashlib.md5(md5s).hexdigest().upper() + "-3"
    assert done.crc == crc64(b"".join(parts))
    head = b.head_object("m")
    assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(b"".join(parts))


def test_list_uploads_pagination_and_delimiter(
    sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str
) -> None:
    b = sts_bucket_factory(bucket)
    ids = {k: b.init_multipart_upload(k).upload_id for k in ["a/1", "a/2", "b", "c/d/e"]}
    seen = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(b, max_uploads=1)]
    assert seen == sorted(ids.items())
    top = b.list_multipart_uploads(delimiter="/")
    assert [u.key for u in top.upload_list] == ["b"] and top.prefix_list == ["a/", "c/"]
    for key, upload_id in ids.items():
        b.abort_multipart_upload(key, upload_id)
    assert b.list_multipart_uploads().upload_list == []


def test_list_parts_pagination(sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str) -> None:
    b = sts_bucket_factory(bucket)
    up = b.init_multipart_upload("m")
    for i in (1, 2, 5, 9):
        b.upload_part("m", up.upload_id, i, b"p")
    numbers = [p.part_number for p in oss2.PartIterator(b, "m", up.upload_id, max_parts=1)]
    assert numbers == [1, 2, 5, 9]
    b.abort_multipart_upload("m", up.upload_id)
