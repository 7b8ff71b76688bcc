"""Sub-resources: each is served or refused with 501 NotImplemented, never run as the plain
operation (which replaced an object's bytes on PUT ?tagging and deleted the bucket on
DELETE ?cors)."""

from __future__ import annotations

import base64
from typing import Any

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from alibabacloud_oss_v2.signer.v1 import SignerV1
from server_testlib import error_code, signed

# The sub-resources the clients know (their signing sets), and those the OSS API reference
# adds (v2 operations, LiveChannel, the S3 dialect's names).
DOCUMENTED = {
    "lifecycle", "logging", "website", "referer", "policy", "policyStatus", "encryption",
    "versioning", "requestPayment", "inventory", "inventoryId", "replication", "rtc", "worm",
    "wormId", "wormExtend", "transferAcceleration", "cname", "httpsConfig", "accessmonitor",
    "publicAccessBlock", "accessPoint", "overwriteConfig", "responseHeader", "style", "metaQuery",
    "qos", "qosInfo", "regions", "symlink", "restore", "cleanRestoredObject", "append", "position",
    "versions", "versionId", "seal", "legalHold", "retention", "objectWorm", "callback",
    "x-oss-process", "live", "comp", "vod", "stat", "tagging", "cors", "acl", "torrent",
    "notification", "select", "object-lock", "legal-hold", "attributes",
}  # fmt: skip
# In oss2's signing set, but only modifiers of the plain operation.
MODIFIERS = {
    "response-content-type", "response-content-language", "response-expires",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "security-token", "continuation-token", "x-oss-request-payer", "x-oss-traffic-limit",
}  # fmt: skip
ALL_SUBRESOURCES = sorted(
    (
        set(oss2.auth.ProviderAuth._subresource_key_set)
        | set(SignerV1._subresource_key_set)
        | DOCUMENTED
    )
    - MODIFIERS
)

# What the server implements: (method, target, sub-resource). Everything else must be 501.
SERVED = {
    ("GET", "bucket", "acl"), ("GET", "bucket", "location"), ("GET", "bucket", "bucketInfo"),
    ("GET", "bucket", "uploads"), ("POST", "bucket", "delete"),
    ("GET", "object", "acl"), ("PUT", "object", "acl"), ("HEAD", "object", "objectMeta"),
    ("POST", "object", "uploads"), ("PUT", "object", "uploadId"), ("PUT", "object", "partNumber"),
    ("GET", "object", "uploadId"), ("POST", "object", "uploadId"), ("DELETE", "object", "uploadId"),
    ("POST", "object", "append"), ("GET", "object", "tagging"), ("PUT", "object", "tagging"),
    ("DELETE", "object", "tagging"),
}  # fmt: skip

KEY, DATA = "keep/me", b"precious bytes"
TAGGING_XML = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"


def _state(creds: Any, bucket: str) -> tuple[Any, ...]:
    """Everything a misrouted request could change: bytes, metadata, the listing."""
    status, headers, body = signed(creds, "GET", bucket, KEY)
    meta = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-oss-meta-")}
    keep = (status, body, headers.get("ETag"), headers.get("Content-Type"), meta)
    status, _, listing = signed(creds, "GET", bucket)
    return keep, status, listing.count(b"<Key>"), b"<Key>keep/me</Key>" in listing


def _is_not_implemented(method: str, status: int, headers: dict[str, str], body: bytes) -> bool:
    if status != 501 or not headers.get("x-oss-request-id"):
        return False
    if method == "HEAD":  # no body: the error travels base64-encoded in x-oss-err
        body = base64.b64decode(headers.get("x-oss-err", ""))
    return error_code(body) == "NotImplemented" and headers.get("x-oss-ec") is not None


def test_every_subresource_is_served_or_refused(creds: Any, bucket: str) -> None:
    assert {"tagging", "cors", "symlink", "live", "worm", "versionId"} <= set(ALL_SUBRESOURCES)
    signed(creds, "PUT", bucket, KEY, body=DATA, headers={"x-oss-meta-color": "blue"})
    before = _state(creds, bucket)
    assert before[0][0] == 200 and before[0][1] == DATA and before[3]
    wrong: list[str] = []
    for name in ALL_SUBRESOURCES:
        for target, key in (("bucket", ""), ("object", KEY)):
            for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
                body = TAGGING_XML if method in ("PUT", "POST") else None
                status, headers, answer = signed(
                    creds, method, bucket, key, body=body, query=[(name, None)]
                )
                if (method, target, name) in SERVED:
                    if status == 501 or status < 200:
                        wrong.append(f"{method} {target}?{name}: served, but {status}")
                elif not _is_not_implemented(method, status, headers, answer):
                    wrong.append(f"{method} {target}?{name}: {status} {answer[:120]!r}")
    assert wrong == []
    assert _state(creds, bucket) == before


def test_plain_parameters_keep_working(creds: Any, bucket: str) -> None:
    signed(creds, "PUT", bucket, KEY, body=DATA)
    query: list[tuple[str, str | None]] = [
        ("response-content-type", "text/x-test"), ("response-cache-control", "no-cache"),
        ("x-oss-traffic-limit", "819200"), ("_", "cache-buster"),
    ]  # fmt: skip
    status, headers, body = signed(creds, "GET", bucket, KEY, query=query)
    assert (status, body, headers["Content-Type"]) == (200, DATA, "text/x-test")
    listing = [("prefix", "keep/"), ("max-keys", "5"), ("delimiter", "/"), ("list-type", "2"),
               ("fetch-owner", "true"), ("start-after", ""), ("encoding-type", "url")]  # fmt: skip
    status, _, body = signed(creds, "GET", bucket, query=listing)
    assert status == 200 and b"<Key>keep/me</Key>" in body


def _refused(call: Any) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as info:
        call()
    err = info.value
    assert (err.status, err.code) == (501, "NotImplemented"), err
    assert err.request_id


def test_oss2_calls_the_server_does_not_serve_change_nothing(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    b.put_object("k", b"data", headers={"x-oss-meta-a": "1"})
    cors = oss2.models.BucketCors(
        [oss2.models.CorsRule(allowed_origins=["*"], allowed_methods=["GET"])]
    )
    calls = [
        lambda: b.put_bucket_cors(cors),
        lambda: b.get_bucket_cors(),
        lambda: b.delete_bucket_cors(),
        lambda: b.put_symlink("k", "link"),
        lambda: b.get_symlink("link"),
        lambda: b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ),
        lambda: b.restore_object("k"),
        lambda: b.get_bucket_versioning(),
        lambda: b.delete_bucket_lifecycle(),
    ]
    for call in calls:
        _refused(call)
    assert b.get_object("k").read() == b"data"
    assert b.head_object("k").headers["x-oss-meta-a"] == "1"
    assert [o.key for o in oss2.ObjectIterator(b)] == ["k"]
    assert b.get_bucket_info().name == b.bucket_name


def test_v2_calls_the_server_does_not_serve_change_nothing(v2_env: tuple[v2.Client, str]) -> None:
    client, name = v2_env
    client.put_object(v2.models.PutObjectRequest(bucket=name, key="k", body=b"data"))
    calls = [
        lambda: client.delete_bucket_cors(v2.models.DeleteBucketCorsRequest(bucket=name)),
        lambda: client.put_bucket_acl(
            v2.models.PutBucketAclRequest(bucket=name, acl="public-read")
        ),
        lambda: client.put_symlink(
            v2.models.PutSymlinkRequest(bucket=name, key="link", symlink_target="k")
        ),
    ]
    for call in calls:
        with pytest.raises(v2.exceptions.OperationError) as info:
            call()
        err = info.value.unwrap()
        assert isinstance(err, v2.exceptions.ServiceError), err
        assert (err.status_code, err.code) == (501, "NotImplemented")
    got = client.get_object(v2.models.GetObjectRequest(bucket=name, key="k"))
    assert got.body.read() == b"data"
    listed = client.list_objects_v2(v2.models.ListObjectsV2Request(bucket=name))
    assert [o.key for o in listed.contents or []] == ["k"]
