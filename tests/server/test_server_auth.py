"""Every rejection gets its OSS error code; presigned URLs from both clients work over plain HTTP."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from server_testlib import (
    PLAIN_AK,
    PLAIN_SK,
    error_code,
    error_field,
    http,
    make_v2_client,
    object_url,
    signed,
)

from agentbay_oss.protocol import signing
from agentbay_oss.server import LocalOssServer


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _oss2_code(call: Callable[[], Any]) -> str:
    with pytest.raises(oss2.exceptions.OssError) as exc:
        call()
    return str(exc.value.code)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_wrong_secret_shows_string_to_sign_without_token(
    sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str, creds: Any, version: str
) -> None:
    b = sts_bucket_factory(bucket, sk="not-the-secret", version=version)
    with pytest.raises(oss2.exceptions.OssError) as exc:
        b.put_object("k", b"x")
    assert exc.value.status == 403 and exc.value.code == "SignatureDoesNotMatch"
    status, _, body = signed(creds, "GET", bucket, "k", secret="wrong", version=version)
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch"
    sts = error_field(body, "StringToSign")
    assert sts.startswith("OSS4-HMAC-SHA256" if version == "v4" else "GET\n")
    assert error_field(body, "OSSAccessKeyId") == creds.access_key_id
    assert (
        creds.security_token.encode() not in body and creds.access_key_secret.encode() not in body
    )
    assert not sts_bucket_factory(bucket).object_exists("k")


def test_unknown_key_missing_and_wrong_token(
    sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str, creds: Any
) -> None:
    assert (
        _oss2_code(lambda: sts_bucket_factory(bucket, ak="LTAI5tNobody").get_object("k"))
        == "InvalidAccessKeyId"
    )
    for version in ("v1", "v4"):
        no_token = sts_bucket_factory(bucket, token=None, version=version)
        assert _oss2_code(lambda b=no_token: b.get_object("k")) == "InvalidSecurityToken"
        wrong = sts_bucket_factory(bucket, token="forged-token", version=version)
        assert _oss2_code(lambda b=wrong: b.get_object("k")) == "InvalidSecurityToken"
    # alibabacloud-oss-v2 V1 sends the token as a plain `security-token` header: accepted.
    c = make_v2_client(creds.endpoint, creds.access_key_id, creds.access_key_secret, "forged", "v1")
    with pytest.raises(v2.exceptions.OperationError) as exc:
        c.get_object(v2.GetObjectRequest(bucket=bucket, key="k"))
    assert "InvalidSecurityToken" in str(exc.value)


def test_token_expiry_and_rotation(
    oss_server: LocalOssServer,
    sts_bucket_factory: Callable[..., oss2.Bucket],
    bucket: str,
    creds: Any,
) -> None:
    b = sts_bucket_factory(bucket)
    b.put_object("k", b"v")
    oss_server.expire_token()
    assert _oss2_code(lambda: b.get_object("k")) == "SecurityTokenExpired"
    oss_server.set_credentials("LTAI5tRotated", "rotated-secret", "token-2", expires_at=None)
    fresh = sts_bucket_factory(bucket, ak="LTAI5tRotated", sk="rotated-secret", token="token-2")
    assert fresh.get_object("k").read() == b"v"
    # The retired token says "expired" (so a client refreshes), not "invalid".
    assert _oss2_code(lambda: b.get_object("k")) == "SecurityTokenExpired"
    oss_server.set_credentials(
        "LTAI5tRotated", "rotated-secret", "token-3", expires_at=_now().timestamp() - 1
    )
    assert _oss2_code(lambda: fresh.get_object("k")) == "SecurityTokenExpired"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_clock_skew(creds: Any, bucket: str, version: str) -> None:
    for minutes, ok in ((-20, False), (20, False), (-10, True)):
        status, _, body = signed(
            creds, "GET", bucket, "", version=version, now=_now() + dt.timedelta(minutes=minutes)
        )
        if ok:
            assert status == 200, body
        else:
            assert status == 403 and error_code(body) == "RequestTimeTooSkewed"


def test_anonymous_private_and_public(
    creds: Any, bucket: str, plain_server: LocalOssServer
) -> None:
    url = object_url(creds.endpoint, bucket, "k")
    for method, body in (("GET", None), ("PUT", b"x"), ("DELETE", None)):
        status, _, resp = http(method, url, body)
        assert status == 403 and error_code(resp) == "AccessDenied"
    status, headers, _ = http("HEAD", url)
    assert status == 403 and error_code(base64.b64decode(headers["x-oss-err"])) == "AccessDenied"
    status, _, resp = http("GET", creds.endpoint + "/")
    assert status == 403 and error_code(resp) == "AccessDenied"
    status, _, resp = http("GET", object_url(creds.endpoint, bucket))
    assert status == 403 and error_code(resp) == "AccessDenied"
    # A public bucket takes anonymous reads and writes, from plain HTTP and oss2.AnonymousAuth.
    pub = object_url(plain_server.endpoint, "public-bkt", "anon key")
    assert http("PUT", pub, b"hello")[0] == 200
    assert http("GET", pub)[2] == b"hello"
    anon = oss2.Bucket(oss2.AnonymousAuth(), plain_server.endpoint, "public-bkt")
    anon.put_object("anon2", b"x")
    assert "anon key" in [o.key for o in oss2.ObjectIterator(anon)]
    assert http("DELETE", pub)[0] == 204
    anon.delete_object("anon2")
    # ...but creating or deleting buckets stays signed-only.
    status, _, resp = http("PUT", plain_server.endpoint + "/anon-new-bucket/")
    assert status == 403 and error_code(resp) == "AccessDenied"


def test_bad_content_md5(sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str) -> None:
    b = sts_bucket_factory(bucket)
    wrong = base64.b64encode(b"0" * 16).decode()
    assert (
        _oss2_code(lambda: b.put_object("k", b"data", headers={"Content-MD5": wrong}))
        == "InvalidDigest"
    )
    assert (
        _oss2_code(lambda: b.put_object("k", b"data", headers={"Content-MD5": "not-base64!"}))
        == "InvalidDigest"
    )
    assert not b.object_exists("k")
    up = b.init_multipart_upload("m")
    assert (
        _oss2_code(
            lambda: b.upload_part("m", up.upload_id, 1, b"d", headers={"Content-MD5": wrong})
        )
        == "InvalidDigest"
    )
    assert b.list_parts("m", up.upload_id).parts == []
    right = base64.b64encode(__import__("hashlib").md5(b"data").digest()).decode()
    assert b.put_object("k", b"data", headers={"Content-MD5": right}).status == 200


def test_invalid_bucket_name_and_key_too_long(creds: Any, bucket: str) -> None:
    status, _, body = signed(creds, "PUT", "Bad_Name", "")
    assert status == 400 and error_code(body) == "InvalidBucketName"
    status, _, body = signed(creds, "PUT", bucket, "k" * 1024, body=b"x")
    assert status == 400 and error_code(body) == "InvalidObjectName"
    status, _, body = signed(creds, "GET", "no-such-bucket-here", "k")
    assert status == 404 and error_code(body) == "NoSuchBucket"


# ---------------------------------------------------------------------------- presigned URLs


@pytest.mark.parametrize("variant", ["v1", "v4", "sts-v1", "sts-v4"])
def test_oss2_presigned_put_get(
    variant: str, oss_server: LocalOssServer, plain_server: LocalOssServer, creds: Any
) -> None:
    version = variant.split("-")[-1]
    auth: Any
    if variant.startswith("sts"):
        srv = oss_server
        auth = oss2.StsAuth(
            creds.access_key_id, creds.access_key_secret, creds.security_token, auth_version=version
        )
    else:
        srv = plain_server
        auth = oss2.AuthV4(PLAIN_AK, PLAIN_SK) if version == "v4" else oss2.Auth(PLAIN_AK, PLAIN_SK)
    name = f"ps-{variant}-{id(auth) % 100000}"
    srv.create_bucket(name)
    b = oss2.Bucket(auth, srv.endpoint, name, region=creds.region)
    key = "dir/a b+c%d?e#f ü"
    put_url = b.sign_url("PUT", key, 300)
    assert http("PUT", put_url, b"presigned body")[0] == 200
    get_url = b.sign_url("GET", key, 300)
    status, headers, body = http("GET", get_url)
    assert status == 200 and body == b"presigned body" and "x-oss-hash-crc64ecma" in headers
    # Expired.
    status, _, body = http("GET", b.sign_url("GET", key, -60))
    assert status == 403 and error_code(body) == "AccessDenied"
    assert "expired" in error_field(body, "Message").lower()
    # Tampered: another key, or a changed signature.
    other = get_url.replace("dir", "dyr", 1)
    status, _, body = http("GET", other)
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch"
    sig_field = "x-oss-signature=" if version == "v4" else "Signature="
    head, _, tail = get_url.partition(sig_field)
    tampered = head + sig_field + ("0" if tail[0] != "0" else "1") + tail[1:]
    status, _, body = http("GET", tampered)
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch"


@pytest.mark.parametrize("variant", ["v4", "v1", "sts-v4", "sts-v1"])
def test_v2_presigned_put_get(
    variant: str, oss_server: LocalOssServer, plain_server: LocalOssServer, creds: Any
) -> None:
    version = variant.split("-")[-1]
    if variant.startswith("sts"):
        srv = oss_server
        c = make_v2_client(
            srv.endpoint,
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            version,
        )
    else:
        srv = plain_server
        c = make_v2_client(srv.endpoint, PLAIN_AK, PLAIN_SK, None, version)
    name = f"pv-{variant}"
    srv.create_bucket(name)
    key = "x/y z+%?#ü"
    put = c.presign(v2.PutObjectRequest(bucket=name, key=key))
    assert http("PUT", put.url, b"v2 body", dict(put.signed_headers or {}))[0] == 200
    get = c.presign(v2.GetObjectRequest(bucket=name, key=key))
    assert http("GET", get.url)[2] == b"v2 body"
    expired = c.presign(
        v2.GetObjectRequest(bucket=name, key=key), expiration=_now() - dt.timedelta(minutes=5)
    )
    status, _, body = http("GET", expired.url)
    assert status == 403 and error_code(body) == "AccessDenied"


def test_presign_v4_too_old_and_tampered_expiry(
    creds: Any, bucket: str, sts_bucket_factory: Callable[..., oss2.Bucket]
) -> None:
    sts_bucket_factory(bucket).put_object("k", b"v")
    c = signing.Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)
    pairs = signing.presign_v4_query(
        c, creds.region, "GET", bucket, "k", 60, _now() - dt.timedelta(hours=2)
    )
    url = object_url(creds.endpoint, bucket, "k", signing.encode_query(pairs))
    status, _, body = http("GET", url)
    assert status == 403 and error_code(body) == "AccessDenied"
    fresh = signing.presign_v4_query(c, creds.region, "GET", bucket, "k", 60, _now())
    url = object_url(creds.endpoint, bucket, "k", signing.encode_query(fresh))
    assert http("GET", url)[2] == b"v"
    status, _, body = http("GET", url.replace("x-oss-expires=60", "x-oss-expires=600"))
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch"
