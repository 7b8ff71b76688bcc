"""What an object carries besides its bytes, round-tripped by oss2 and alibabacloud-oss-v2:
tags, user metadata, the standard headers (and GET's response-* overrides), and the rules
x-oss-forbid-overwrite sets; plus GetBucketInfo / GetBucketLocation and ranged
UploadPartCopy."""

from __future__ import annotations

import os

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from oss2.models import PartInfo

Env = tuple[v2.Client, str]

# Stored on PUT, sent back on GET and HEAD. Content-Encoding is one no HTTP client decodes.
STANDARD = {
    "Content-Type": "text/x-test; charset=utf-8",
    "Content-Disposition": 'attachment; filename="report.txt"',
    "Cache-Control": "max-age=60, private",
    "Content-Encoding": "x-test-encoding",
    "Expires": "Wed, 21 Oct 2026 07:28:00 GMT",
}
OVERRIDES = {
    "response-content-type": ("Content-Type", "application/x-override"),
    "response-content-disposition": ("Content-Disposition", "inline"),
    "response-cache-control": ("Cache-Control", "no-store"),
    "response-content-encoding": ("Content-Encoding", "x-other"),
    "response-content-language": ("Content-Language", "fr-CA"),
    "response-expires": ("Expires", "Thu, 01 Jan 2032 00:00:00 GMT"),
}


def _code(exc: pytest.ExceptionInfo[BaseException]) -> str:
    err: object = exc.value
    while isinstance(err, v2.exceptions.OperationError):
        err = err.unwrap()
    assert isinstance(err, v2.exceptions.ServiceError), exc.value
    return str(err.code)


# ---------------------------------------------------------------------------- tagging


def _oss2_tags(b: oss2.Bucket, key: str) -> dict[str, str]:
    return dict(b.get_object_tagging(key).tag_set.tagging_rule)


def test_oss2_tagging(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    b.put_object("k", b"data", headers={"x-oss-tagging": "team=a%20b&empty=", "x-oss-meta-m": "1"})
    assert _oss2_tags(b, "k") == {"team": "a b", "empty": ""}
    assert b.head_object("k").headers["x-oss-tagging-count"] == "2"
    tagging = oss2.models.Tagging(oss2.models.TaggingRule())
    tagging.tag_set.add("stage", "prod")
    tagging.tag_set.add("ü key", "<&>")
    b.put_object_tagging("k", tagging)
    assert _oss2_tags(b, "k") == {"stage": "prod", "ü key": "<&>"}
    got = b.get_object("k")  # tagging changes neither bytes nor metadata
    assert got.read() == b"data" and got.headers["x-oss-meta-m"] == "1"
    # Copies take the source's tags unless told to replace them.
    b.copy_object(b.bucket_name, "k", "copy")
    assert _oss2_tags(b, "copy") == {"stage": "prod", "ü key": "<&>"}
    b.copy_object(
        b.bucket_name, "k", "copy2",
        headers={"x-oss-tagging-directive": "REPLACE", "x-oss-tagging": "x=1"},
    )  # fmt: skip
    assert _oss2_tags(b, "copy2") == {"x": "1"}
    # Multipart objects get the tags given at initiation.
    up = b.init_multipart_upload("mp", headers={"x-oss-tagging": "part=yes"})
    p1 = b.upload_part("mp", up.upload_id, 1, b"abc")
    b.complete_multipart_upload("mp", up.upload_id, [PartInfo(1, p1.etag)])
    assert _oss2_tags(b, "mp") == {"part": "yes"}
    b.delete_object_tagging("k")
    assert _oss2_tags(b, "k") == {}
    assert "x-oss-tagging-count" not in b.head_object("k").headers
    too_many = oss2.models.Tagging(oss2.models.TaggingRule())
    for i in range(11):
        too_many.tag_set.add(f"t{i}", "v")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.put_object_tagging("k", too_many)
    assert (exc.value.status, exc.value.code) == (400, "InvalidTag")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object_tagging("missing")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.put_object_tagging("missing", tagging)


def test_v2_tagging(v2_env: Env) -> None:
    c, bkt = v2_env
    c.put_object(v2.PutObjectRequest(bucket=bkt, key="k", body=b"x", tagging="a=1&b=2"))
    got = c.get_object_tagging(v2.GetObjectTaggingRequest(bucket=bkt, key="k"))
    assert got.tag_set is not None
    assert [(t.key, t.value) for t in got.tag_set.tags or []] == [("a", "1"), ("b", "2")]
    head = c.head_object(v2.HeadObjectRequest(bucket=bkt, key="k"))
    assert head.tagging_count == 2
    tag = v2.models.Tagging(tag_set=v2.models.TagSet(tags=[v2.models.Tag(key="t", value="v")]))
    c.put_object_tagging(v2.PutObjectTaggingRequest(bucket=bkt, key="k", tagging=tag))
    got = c.get_object_tagging(v2.GetObjectTaggingRequest(bucket=bkt, key="k"))
    assert got.tag_set is not None
    assert [(t.key, t.value) for t in got.tag_set.tags or []] == [("t", "v")]
    c.delete_object_tagging(v2.DeleteObjectTaggingRequest(bucket=bkt, key="k"))
    got = c.get_object_tagging(v2.GetObjectTaggingRequest(bucket=bkt, key="k"))
    assert not (got.tag_set and got.tag_set.tags)
    with pytest.raises(Exception) as exc:
        c.put_object(v2.PutObjectRequest(bucket=bkt, key="bad", body=b"x", tagging="a=1&a=2"))
    assert _code(exc) == "InvalidTag"
    assert not c.is_object_exist(bkt, "bad")


# ---------------------------------------------------------------------------- headers, metadata


def test_oss2_standard_headers_and_overrides(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    b.put_object("k", b"body", headers={**STANDARD, "x-oss-meta-Mixed-Case": "Value 1"})
    for resp in (b.get_object("k"), b.head_object("k")):
        for name, value in STANDARD.items():
            assert resp.headers[name] == value, name
        assert resp.headers["x-oss-meta-mixed-case"] == "Value 1"
    params = {p: v for p, (_, v) in OVERRIDES.items()}
    got = b.get_object("k", params=params)
    assert got.read() == b"body"
    for header, value in OVERRIDES.values():
        assert got.headers[header] == value, header
    # Multipart: the headers given at initiation.
    up = b.init_multipart_upload("mp", headers={**STANDARD, "x-oss-meta-a": "1"})
    p1 = b.upload_part("mp", up.upload_id, 1, b"xyz")
    b.complete_multipart_upload("mp", up.upload_id, [PartInfo(1, p1.etag)])
    head = b.head_object("mp")
    assert {n: head.headers[n] for n in STANDARD} == STANDARD
    assert head.headers["x-oss-meta-a"] == "1"


def test_v2_standard_headers_metadata_and_overrides(v2_env: Env) -> None:
    c, bkt = v2_env
    c.put_object(
        v2.PutObjectRequest(
            bucket=bkt, key="k", body=b"body", content_type=STANDARD["Content-Type"],
            content_disposition=STANDARD["Content-Disposition"],
            cache_control=STANDARD["Cache-Control"], content_encoding=STANDARD["Content-Encoding"],
            expires=STANDARD["Expires"], metadata={"one": "1", "two": "zwei"},
        )
    )  # fmt: skip
    got = c.get_object(v2.GetObjectRequest(bucket=bkt, key="k"))
    head = c.head_object(v2.HeadObjectRequest(bucket=bkt, key="k"))
    for r in (got, head):
        assert r.content_type == STANDARD["Content-Type"]
        assert r.content_disposition == STANDARD["Content-Disposition"]
        assert r.cache_control == STANDARD["Cache-Control"]
        assert r.content_encoding == STANDARD["Content-Encoding"]
        assert r.expires == STANDARD["Expires"]
        assert r.metadata == {"one": "1", "two": "zwei"}
    over = c.get_object(
        v2.GetObjectRequest(
            bucket=bkt, key="k", response_content_type="application/x-override",
            response_content_disposition="inline", response_cache_control="no-store",
            response_content_encoding="x-other", response_content_language="fr-CA",
            response_expires="Thu, 01 Jan 2032 00:00:00 GMT",
        )
    )  # fmt: skip
    assert over.body.read() == b"body"
    for header, value in OVERRIDES.values():
        assert over.headers[header] == value, header
    # Metadata through multipart and through a copy that replaces it.
    init = c.initiate_multipart_upload(
        v2.InitiateMultipartUploadRequest(bucket=bkt, key="mp", metadata={"mp": "yes"})
    )
    c.upload_part(
        v2.UploadPartRequest(
            bucket=bkt, key="mp", upload_id=init.upload_id, part_number=1, body=b"1"
        )
    )
    c.complete_multipart_upload(
        v2.CompleteMultipartUploadRequest(
            bucket=bkt, key="mp", upload_id=init.upload_id, complete_all="yes"
        )
    )
    assert c.head_object(v2.HeadObjectRequest(bucket=bkt, key="mp")).metadata == {"mp": "yes"}
    c.copy_object(
        v2.CopyObjectRequest(
            bucket=bkt, key="cp", source_bucket=bkt, source_key="k", metadata_directive="REPLACE",
            metadata={"new": "n"}, content_type="a/b",
        )
    )  # fmt: skip
    cp = c.head_object(v2.HeadObjectRequest(bucket=bkt, key="cp"))
    assert cp.metadata == {"new": "n"} and cp.content_type == "a/b"


# ---------------------------------------------------------------------------- forbid overwrite


def test_oss2_forbid_overwrite_put_copy_complete(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    forbid = {"x-oss-forbid-overwrite": "true"}
    b.put_object("k", b"first")
    b.put_object("new", b"n", headers=forbid)  # nothing to overwrite: allowed
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.put_object("k", b"second", headers=forbid)
    assert (exc.value.status, exc.value.code) == (409, "FileAlreadyExists")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.copy_object(b.bucket_name, "new", "k", headers=forbid)
    assert exc.value.code == "FileAlreadyExists"
    b.copy_object(b.bucket_name, "new", "k", headers={"x-oss-forbid-overwrite": "false"})
    assert b.get_object("k").read() == b"n"
    up = b.init_multipart_upload("k")  # the object appears while the upload runs
    p1 = b.upload_part("k", up.upload_id, 1, b"parts")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.complete_multipart_upload("k", up.upload_id, [PartInfo(1, p1.etag)], headers=forbid)
    assert exc.value.code == "FileAlreadyExists"
    assert b.get_object("k").read() == b"n"
    b.complete_multipart_upload("k", up.upload_id, [PartInfo(1, p1.etag)])  # upload kept
    assert b.get_object("k").read() == b"parts"


def test_v2_forbid_overwrite_put_copy_complete(v2_env: Env) -> None:
    c, bkt = v2_env
    c.put_object(v2.PutObjectRequest(bucket=bkt, key="k", body=b"first"))
    with pytest.raises(Exception) as exc:
        c.put_object(v2.PutObjectRequest(bucket=bkt, key="k", body=b"2", forbid_overwrite=True))
    assert _code(exc) == "FileAlreadyExists"
    with pytest.raises(Exception) as exc:
        c.copy_object(
            v2.CopyObjectRequest(
                bucket=bkt, key="k", source_bucket=bkt, source_key="k", forbid_overwrite=True
            )
        )
    assert _code(exc) == "FileAlreadyExists"
    init = c.initiate_multipart_upload(v2.InitiateMultipartUploadRequest(bucket=bkt, key="k"))
    c.upload_part(
        v2.UploadPartRequest(
            bucket=bkt, key="k", upload_id=init.upload_id, part_number=1, body=b"p"
        )
    )
    with pytest.raises(Exception) as exc:
        c.complete_multipart_upload(
            v2.CompleteMultipartUploadRequest(
                bucket=bkt, key="k", upload_id=init.upload_id, complete_all="yes",
                forbid_overwrite=True,
            )
        )  # fmt: skip
    assert _code(exc) == "FileAlreadyExists"
    assert c.get_object(v2.GetObjectRequest(bucket=bkt, key="k")).body.read() == b"first"


# ---------------------------------------------------------------------------- bucket, part copy


def test_oss2_bucket_info_and_location(oss2_bucket: oss2.Bucket) -> None:
    info = oss2_bucket.get_bucket_info()
    assert info.name == oss2_bucket.bucket_name
    assert info.location == "oss-cn-hangzhou" and info.storage_class == "Standard"
    assert info.owner.id and info.acl.grant in ("private", "public-read-write")
    assert info.creation_date
    assert oss2_bucket.get_bucket_location().location == "oss-cn-hangzhou"


def test_v2_bucket_info_location_and_ranged_part_copy(v2_env: Env) -> None:
    c, bkt = v2_env
    info = c.get_bucket_info(v2.GetBucketInfoRequest(bucket=bkt)).bucket_info
    assert info is not None and info.name == bkt and info.location == "oss-cn-hangzhou"
    assert info.storage_class == "Standard" and info.creation_date is not None
    loc = c.get_bucket_location(v2.GetBucketLocationRequest(bucket=bkt))
    assert loc.location == "oss-cn-hangzhou"
    data = os.urandom(300 * 1024)
    c.put_object(v2.PutObjectRequest(bucket=bkt, key="src", body=data))
    init = c.initiate_multipart_upload(v2.InitiateMultipartUploadRequest(bucket=bkt, key="dst"))
    cut = 150 * 1024
    etags = []
    for number, rng in ((1, f"bytes=0-{cut - 1}"), (2, f"bytes={cut}-{len(data) - 1}")):
        part = c.upload_part_copy(
            v2.UploadPartCopyRequest(
                bucket=bkt, key="dst", upload_id=init.upload_id, part_number=number,
                source_bucket=bkt, source_key="src", source_range=rng,
            )
        )  # fmt: skip
        etags.append(part.etag)
    parts = [v2.UploadPart(part_number=n, etag=e) for n, e in enumerate(etags, 1)]
    c.complete_multipart_upload(
        v2.CompleteMultipartUploadRequest(
            bucket=bkt, key="dst", upload_id=init.upload_id,
            complete_multipart_upload=v2.CompleteMultipartUpload(parts=parts),
        )
    )  # fmt: skip
    assert c.get_object(v2.GetObjectRequest(bucket=bkt, key="dst")).body.read() == data
