"""Awkward keys survive both clients: spaces, +, %, ?, #, unicode, nesting, 1 and 1023 bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import alibabacloud_oss_v2 as v2
import oss2
import pytest

KEYS = [
    "a b",
    "a+b",
    "100%",
    "%41%2F",
    "what?x=1&y",
    "hash#tag",
    "ünïcödé/日本語/ファイル",
    "nested/deep/dir/file.txt",
    "x",
    "k" * 1023,
    "é" * 511 + "z",  # 1023 bytes of UTF-8
    " lead and trail ",
    "semi;colon,comma=eq",
]


def test_oss2_keys(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    for i, key in enumerate(KEYS):
        b.put_object(key, f"body {i}".encode())
    for i, key in enumerate(KEYS):
        assert b.get_object(key).read() == f"body {i}".encode(), key
        assert b.head_object(key).content_length == len(f"body {i}")
    assert sorted(o.key for o in oss2.ObjectIterator(b)) == sorted(KEYS)
    assert sorted(o.key for o in oss2.ObjectIteratorV2(b)) == sorted(KEYS)
    # Explicit encoding-type=url in listing and batch delete.
    listed = b.list_objects_v2(encoding_type="url", max_keys=1000)
    assert sorted(o.key for o in listed.object_list) == sorted(KEYS)
    b.batch_delete_objects(KEYS[:5])
    for key in KEYS[5:]:
        b.delete_object(key)
    assert list(oss2.ObjectIterator(b)) == []


def test_v2_keys(v2_env: tuple[v2.Client, str]) -> None:
    c, bkt = v2_env
    for i, key in enumerate(KEYS):
        c.put_object(v2.PutObjectRequest(bucket=bkt, key=key, body=f"v2 {i}".encode()))
    for i, key in enumerate(KEYS):
        assert (
            c.get_object(v2.GetObjectRequest(bucket=bkt, key=key)).body.read() == f"v2 {i}".encode()
        )
    listed = c.list_objects_v2(
        v2.ListObjectsV2Request(bucket=bkt, max_keys=1000, encoding_type="url")
    )
    assert sorted(o.key for o in listed.contents or []) == sorted(KEYS)
    c.delete_multiple_objects(
        v2.DeleteMultipleObjectsRequest(
            bucket=bkt, objects=[v2.DeleteObject(key=k) for k in KEYS], encoding_type="url"
        )
    )
    assert not c.list_objects_v2(v2.ListObjectsV2Request(bucket=bkt)).contents


def test_file_and_directory_like_keys_coexist(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    layout = {"p/a": b"1", "p/a/b": b"2", "d/": b"", "d/x": b"3", "p": b"4", "p/a/": b"5"}
    for key, body in layout.items():
        b.put_object(key, body)
    for key, body in layout.items():
        assert b.get_object(key).read() == body
    b.delete_object("p/a")
    assert b.get_object("p/a/b").read() == b"2" and b.get_object("p/a/").read() == b"5"
    top = b.list_objects(delimiter="/")
    assert [o.key for o in top.object_list] == ["p"] and top.prefix_list == ["d/", "p/"]


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../../b", "/leading", "a\\..\\b", "./x"])
def test_traversal_shaped_keys_are_just_keys(
    oss2_bucket: oss2.Bucket, key: str, oss_server: Any
) -> None:
    b = oss2_bucket
    b.put_object(key, b"safe")
    assert b.get_object(key).read() == b"safe"
    assert key in [o.key for o in oss2.ObjectIterator(b)]


# Control characters both clients write raw into the DeleteMultipleObjects XML (XML 1.0
# forbids them); CR would also be read back as LF by a plain XML parser.
CONTROL_KEYS = ["form\x0cfeed", "\x01start", "bell\x07end", "cr\rlf\r\n", "esc\x1b[0m"]


def test_oss2_batch_delete_keys_with_control_characters(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    for key in [*CONTROL_KEYS, "plain"]:
        b.put_object(key, b"x")
    result = b.batch_delete_objects([*CONTROL_KEYS, "plain"])
    assert sorted(result.deleted_keys) == sorted([*CONTROL_KEYS, "plain"])
    assert [o.key for o in oss2.ObjectIterator(b)] == []


def test_v2_batch_delete_keys_with_control_characters(v2_env: tuple[v2.Client, str]) -> None:
    c, bkt = v2_env
    for key in CONTROL_KEYS:
        c.put_object(v2.PutObjectRequest(bucket=bkt, key=key, body=b"x"))
    result = c.delete_multiple_objects(
        v2.DeleteMultipleObjectsRequest(
            bucket=bkt, objects=[v2.DeleteObject(key=k) for k in CONTROL_KEYS], encoding_type="url"
        )
    )
    assert sorted(d.key for d in result.deleted_objects or []) == sorted(CONTROL_KEYS)
    assert not c.list_objects_v2(v2.ListObjectsV2Request(bucket=bkt)).contents


BACKSLASH_KEY = "\\lead"


def _invalid_name(call: Callable[[], object]) -> None:
    with pytest.raises(oss2.exceptions.OssError) as info:
        call()
    assert (info.value.status, info.value.code) == (400, "InvalidObjectName"), info.value
    assert info.value.ec == "0016-00000005"


def test_backslash_first_key_is_refused_by_every_write(oss2_bucket: oss2.Bucket) -> None:
    b, bad = oss2_bucket, BACKSLASH_KEY
    b.put_object("src", b"x")
    up = b.init_multipart_upload("src").upload_id
    writes: list[Callable[[], object]] = [
        lambda: b.put_object(bad, b"x"),
        lambda: b.copy_object(b.bucket_name, "src", bad),
        lambda: b.init_multipart_upload(bad),
        lambda: b.upload_part(bad, up, 1, b"x"),
        lambda: b.upload_part_copy(b.bucket_name, "src", (0, 0), bad, up, 1),
        lambda: b.complete_multipart_upload(bad, up, [], headers={"x-oss-complete-all": "yes"}),
        lambda: b.put_object_acl(bad, oss2.OBJECT_ACL_PRIVATE),
    ]
    for write in writes:
        _invalid_name(write)
    assert [o.key for o in oss2.ObjectIterator(b)] == ["src"]
    assert [u.key for u in b.list_multipart_uploads().upload_list] == ["src"]
    # Reads and deletes of such a name are not writes: they just find nothing.
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object(bad)
    b.delete_object(bad)


def test_v2_backslash_first_key_is_refused(v2_env: tuple[v2.Client, str]) -> None:
    c, bkt = v2_env
    with pytest.raises(v2.exceptions.OperationError) as info:
        c.put_object(v2.PutObjectRequest(bucket=bkt, key=BACKSLASH_KEY, body=b"x"))
    err = info.value.unwrap()
    assert isinstance(err, v2.exceptions.ServiceError)
    assert (err.status_code, err.code, err.ec) == (400, "InvalidObjectName", "0016-00000005")
    assert not c.list_objects_v2(v2.ListObjectsV2Request(bucket=bkt)).contents
