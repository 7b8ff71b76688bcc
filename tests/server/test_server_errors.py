"""Error answers carry OSS's per-cause EC (x-oss-ec header and <EC>), as oss2 reads them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import oss2
import pytest
from server_testlib import error_field, signed

from agentbay_oss.server.errors import GENERIC_EC


def _ec(call: Callable[[], object], code: str) -> str:
    with pytest.raises(oss2.exceptions.OssError) as info:
        call()
    err = info.value
    assert err.code == code, err
    assert err.headers.get("x-oss-ec") == err.ec  # header and body agree
    return str(err.ec)


def test_ec_codes_seen_by_oss2(
    bucket: str, sts_bucket_factory: Callable[..., oss2.Bucket], oss_server: Any
) -> None:
    b = sts_bucket_factory(bucket)
    assert _ec(lambda: b.get_object("nope"), "NoSuchKey") == "0026-00000001"
    missing = sts_bucket_factory("no-such-bucket-here")
    assert _ec(lambda: missing.get_object("k"), "NoSuchBucket") == "0015-00000101"
    b.put_object("k", b"x")
    assert _ec(b.delete_bucket, "BucketNotEmpty") == "0015-00000301"
    wrong_secret = sts_bucket_factory(bucket, sk="not-the-secret")
    assert _ec(lambda: wrong_secret.get_object("k"), "SignatureDoesNotMatch") == "0002-00000040"
    unknown_key = sts_bucket_factory(bucket, ak="LTAI5tNoSuchKeyId", token=None)
    assert _ec(lambda: unknown_key.get_object("k"), "InvalidAccessKeyId") == "0002-00000902"
    long_key = "k" * 1024
    assert _ec(lambda: b.put_object(long_key, b"x"), "InvalidObjectName") == "0016-00000002"
    # An error whose OSS EC is not known here carries the documented generic value.
    assert _ec(lambda: b.abort_multipart_upload("k", "nope"), "NoSuchUpload") == GENERIC_EC


def test_ec_on_head_and_skewed_clock(creds: Any, bucket: str) -> None:
    b = oss2.Bucket(
        oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token),
        creds.endpoint,
        bucket,
    )
    with pytest.raises(oss2.exceptions.NotFound) as info:
        b.head_object("nope")  # HEAD: no body, the error rides in x-oss-err
    assert info.value.headers["x-oss-ec"] == "0026-00000001"
    late = datetime.now(timezone.utc) - timedelta(hours=1)
    status, headers, body = signed(creds, "GET", bucket, "k", now=late)
    assert status == 403 and error_field(body, "Code") == "RequestTimeTooSkewed"
    assert headers["x-oss-ec"] == error_field(body, "EC") == "0002-00000504"
