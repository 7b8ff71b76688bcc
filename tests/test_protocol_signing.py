"""Sans-I/O signing checked against what the official clients produce."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qsl, unquote, urlsplit

import alibabacloud_oss_v2 as v2
import oss2
import pytest

from agentbay_oss.protocol.signing import (
    Credentials,
    mask_secret,
    presign_v1_query,
    presign_v4_query,
    v1_signature,
    v1_string_to_sign,
    v4_canonical_request,
    v4_signature,
    v4_string_to_sign,
)

AK, SK, TOKEN = "LTAI5tTestKeyId", "test-secret-value", "sts/token+value=="
KEY = "dir/a b+c%d?e#f ü.txt"


def _verify(url: str, method: str) -> bool:
    """Recompute a presigned URL's signature the way the local server does."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    assert (bucket, key) == ("bkt", KEY)
    fields = dict(query)
    if "x-oss-signature" in fields:
        pairs = [(k, v) for k, v in query if k != "x-oss-signature"]
        _, date, region, _, _ = fields["x-oss-credential"].split("/")
        canonical = v4_canonical_request(method, bucket, key, pairs, {})
        sts = v4_string_to_sign(fields["x-oss-date"], region, canonical)
        return v4_signature(SK, date, region, sts) == fields["x-oss-signature"]
    pairs = [(k, v) for k, v in query if k not in ("Signature", "OSSAccessKeyId", "Expires")]
    sts = v1_string_to_sign(method, bucket, key, pairs, {}, fields["Expires"])
    return v1_signature(SK, sts) == fields["Signature"]


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_oss2_presigned_urls_verify(version: str, token: str | None, method: str) -> None:
    auth = (
        oss2.StsAuth(AK, SK, token, auth_version=version)
        if token
        else (oss2.AuthV4(AK, SK) if version == "v4" else oss2.Auth(AK, SK))
    )
    bucket = oss2.Bucket(auth, "http://127.0.0.1:9000", "bkt", region="cn-hangzhou")
    assert _verify(bucket.sign_url(method, KEY, 60), method)


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_v2_presigned_urls_verify(version: str, method: str) -> None:
    cfg = v2.config.load_default()
    cfg.credentials_provider = v2.credentials.StaticCredentialsProvider(AK, SK, TOKEN)
    cfg.region, cfg.endpoint = "cn-hangzhou", "http://127.0.0.1:9000"
    cfg.use_path_style, cfg.signature_version = True, version
    client = v2.Client(cfg)
    request = (v2.GetObjectRequest if method == "GET" else v2.PutObjectRequest)(
        bucket="bkt", key=KEY
    )
    assert _verify(client.presign(request).url, method)


def test_our_presign_matches_verifier() -> None:
    creds = Credentials(AK, SK, TOKEN)
    now = datetime(2026, 11, 25, 5, 0, 0, tzinfo=timezone.utc)
    q4 = presign_v4_query(creds, "cn-hangzhou", "PUT", "bkt", KEY, 60, now)
    assert dict(q4)["x-oss-credential"] == f"{AK}/20261125/cn-hangzhou/oss/aliyun_v4_request"
    q1 = presign_v1_query(creds, "GET", "bkt", KEY, 1_800_000_000)
    fields = dict(q1)
    sts = v1_string_to_sign("GET", "bkt", KEY, [("security-token", TOKEN)], {}, "1800000000")
    assert fields["Signature"] == v1_signature(SK, sts)
    assert v1_signature("other", sts) != fields["Signature"]


def test_credentials_never_print_secrets() -> None:
    creds = Credentials(AK, SK, TOKEN)
    for text in (repr(creds), str(creds), f"{creds}"):
        assert SK not in text and TOKEN not in text and AK not in text
    assert mask_secret(AK).startswith("LTAI") and mask_secret("") == ""
