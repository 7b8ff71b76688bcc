"""OSS request signing, V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256), headers and presigned URLs.

Pure functions over plain data: the client signs with them and the local server
verifies with the very same string-to-sign builders. The official clients
(oss2, alibabacloud-oss-v2) are the judges: the conformance tests run them
against the server, which checks their signatures with these functions.

Conventions: `headers` maps names (any case) to values; `query` is a sequence of
(name, value) pairs with *decoded* values, where `None` or "" means a bare flag
such as `?uploads`; `key` is the decoded object key ("" for bucket operations).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import quote

QueryPairs = Sequence[tuple[str, str | None]]

V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_TERMINATOR = "aliyun_v4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
V4_DEFAULT_SIGNED_HEADERS = frozenset({"content-type", "content-md5"})

# Query parameters that take part in a V1 signature (oss2.auth.ProviderAuth._subresource_key_set).
V1_SUBRESOURCES = frozenset(
    {
        "response-content-type", "response-content-language", "response-cache-control",
        "logging", "response-content-encoding", "acl", "uploadId", "uploads", "partNumber",
        "group", "link", "delete", "website", "location", "objectInfo", "objectMeta",
        "response-expires", "response-content-disposition", "cors", "lifecycle", "restore",
        "qos", "referer", "stat", "bucketInfo", "append", "position", "security-token", "live",
        "comp", "status", "vod", "startTime", "endTime", "x-oss-process", "symlink", "callback",
        "callback-var", "tagging", "encryption", "versions", "versioning", "versionId", "policy",
        "requestPayment", "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer",
        "sequential", "inventory", "inventoryId", "continuation-token", "worm", "wormId",
        "wormExtend", "replication", "replicationLocation", "replicationProgress",
        "transferAcceleration", "cname", "metaQuery", "x-oss-ac-source-ip",
        "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow", "resourceGroup",
        "style", "styleName", "x-oss-async-process", "regionList",
        "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig",
        "redundancyTransition", "x-oss-target-redundancy-type",
        "x-oss-redundancy-transition-taskid", "accessPoint", "accessPointPolicy",
        "publicAccessBlock", "x-oss-access-point-name", "requesterQosInfo", "qosRequester",
        "resourcePoolInfo", "resourcePool", "resourcePoolBuckets",
    }
)  # fmt: skip


def mask_secret(value: str | None, keep: int = 4) -> str:
    """A form of a key id safe to print: the first few characters, then stars."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - keep)


@dataclass(frozen=True)
class Credentials:
    """An access key pair and optional STS token. Never printed in full."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = ", security_token=***" if self.security_token else ""
        return f"Credentials(access_key_id={mask_secret(self.access_key_id)!r}{token})"

    __str__ = __repr__


# ---------------------------------------------------------------------------- helpers


def http_date(now: datetime) -> str:
    """RFC 1123 date as OSS V1 wants it: 'Wed, 25 Nov 2026 05:38:32 GMT'."""
    return format_datetime(now.astimezone(timezone.utc), usegmt=True)


def v4_datetime(now: datetime) -> str:
    """ISO 8601 basic form used by V4: '20261125T053832Z'."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def v4_uri_encode(text: str, keep_slash: bool) -> str:
    """RFC 3986 encoding, as oss2's __v4_uri_encode (unreserved kept, `/` kept on request)."""
    return quote(text, safe="/~" if keep_slash else "~")


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in headers.items()}


def resource_path(bucket: str, key: str) -> str:
    """The decoded canonical resource `/bucket/key` (`/bucket/` for bucket ops, `/` for service)."""
    if not bucket:
        return "/"
    return f"/{bucket}/{key}"


# ---------------------------------------------------------------------------- V1


def v1_canonical_resource(bucket: str, key: str, query: QueryPairs) -> str:
    subresources = sorted((k, v) for k, v in query if k in V1_SUBRESOURCES)
    resource = resource_path(bucket, key)
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
    return resource


def v1_string_to_sign(
    method: str,
    bucket: str,
    key: str,
    query: QueryPairs,
    headers: Mapping[str, str],
    date: str,
) -> str:
    """StringToSign of V1. `date` is the Date header, or Expires for a presigned URL."""
    lower = _lower_headers(headers)
    oss_headers = sorted((k, v) for k, v in lower.items() if k.startswith("x-oss-"))
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in oss_headers)
    return "\n".join(
        [
            method.upper(),
            lower.get("content-md5", ""),
            lower.get("content-type", ""),
            date,
            canonical_headers + v1_canonical_resource(bucket, key, query),
        ]
    )


def v1_signature(secret: str, string_to_sign: str) -> str:
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign_v1(
    creds: Credentials,
    method: str,
    bucket: str,
    key: str,
    query: QueryPairs,
    headers: dict[str, str],
    now: datetime,
) -> None:
    """Add Date, the STS token and Authorization to `headers` (mutated in place)."""
    headers["Date"] = http_date(now)
    if creds.security_token:
        headers["x-oss-security-token"] = creds.security_token
    sts = v1_string_to_sign(method, bucket, key, query, headers, headers["Date"])
    headers["Authorization"] = (
        f"OSS {creds.access_key_id}:{v1_signature(creds.access_key_secret, sts)}"
    )


def presign_v1_query(
    creds: Credentials,
    method: str,
    bucket: str,
    key: str,
    expires_at: int,
    query: QueryPairs = (),
    headers: Mapping[str, str] | None = None,
) -> list[tuple[str, str | None]]:
    """Query pairs of a V1 presigned URL valid until epoch second `expires_at`."""
    pairs: list[tuple[str, str | None]] = list(query)
    if creds.security_token:
        pairs.append(("security-token", creds.security_token))
    sts = v1_string_to_sign(method, bucket, key, pairs, headers or {}, str(expires_at))
    pairs += [
        ("OSSAccessKeyId", creds.access_key_id),
        ("Expires", str(expires_at)),
        ("Signature", v1_signature(creds.access_key_secret, sts)),
    ]
    return pairs


# ---------------------------------------------------------------------------- V4


def v4_scope(date: str, region: str, product: str = "oss") -> str:
    return f"{date}/{region}/{product}/{V4_TERMINATOR}"


def v4_canonical_query(query: QueryPairs) -> str:
    encoded = sorted((v4_uri_encode(k, False), v4_uri_encode(v or "", False)) for k, v in query)
    return "&".join(f"{k}={v}" if v else k for k, v in encoded)


def v4_canonical_request(
    method: str,
    bucket: str,
    key: str,
    query: QueryPairs,
    headers: Mapping[str, str],
    additional_headers: Iterable[str] = (),
) -> str:
    """CanonicalRequest of V4; `additional_headers` are the extra signed names (lowercase)."""
    lower = _lower_headers(headers)
    extra = sorted({h.lower() for h in additional_headers})
    signed = [
        (k, v.strip())
        for k, v in lower.items()
        if k.startswith("x-oss-") or k in V4_DEFAULT_SIGNED_HEADERS or k in extra
    ]
    signed.sort()
    return "\n".join(
        [
            method.upper(),
            v4_uri_encode(resource_path(bucket, key), True),
            v4_canonical_query(query),
            "".join(f"{k}:{v}\n" for k, v in signed),
            ";".join(extra),
            lower.get("x-oss-content-sha256", UNSIGNED_PAYLOAD),
        ]
    )


def v4_string_to_sign(
    datetime_iso: str, region: str, canonical_request: str, product: str = "oss"
) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return "\n".join(
        [V4_ALGORITHM, datetime_iso, v4_scope(datetime_iso[:8], region, product), digest]
    )


@functools.lru_cache(maxsize=16)
def _v4_signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    # Four HMACs that change once a day: cached, since small-file transfers sign thousands
    # of requests a second.
    key = ("aliyun_v4" + secret).encode()
    for part in (date, region, product, V4_TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def v4_signature(
    secret: str, date: str, region: str, string_to_sign: str, product: str = "oss"
) -> str:
    key = _v4_signing_key(secret, date, region, product)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def sign_v4(
    creds: Credentials,
    region: str,
    method: str,
    bucket: str,
    key: str,
    query: QueryPairs,
    headers: dict[str, str],
    now: datetime,
    additional_headers: Sequence[str] = (),
) -> None:
    """Add x-oss-date, x-oss-content-sha256, the STS token and Authorization to `headers`."""
    stamp = v4_datetime(now)
    headers["x-oss-date"] = stamp
    headers["x-oss-content-sha256"] = UNSIGNED_PAYLOAD
    if creds.security_token:
        headers["x-oss-security-token"] = creds.security_token
    canonical = v4_canonical_request(method, bucket, key, query, headers, additional_headers)
    sts = v4_string_to_sign(stamp, region, canonical)
    signature = v4_signature(creds.access_key_secret, stamp[:8], region, sts)
    auth = f"{V4_ALGORITHM} Credential={creds.access_key_id}/{v4_scope(stamp[:8], region)}"
    if additional_headers:
        auth += ",AdditionalHeaders=" + ";".join(sorted(h.lower() for h in additional_headers))
    headers["Authorization"] = auth + f",Signature={signature}"


def presign_v4_query(
    creds: Credentials,
    region: str,
    method: str,
    bucket: str,
    key: str,
    expires_in: int,
    now: datetime,
    query: QueryPairs = (),
    headers: Mapping[str, str] | None = None,
) -> list[tuple[str, str | None]]:
    """Query pairs of a V4 presigned URL valid for `expires_in` seconds from `now`."""
    stamp = v4_datetime(now)
    pairs: list[tuple[str, str | None]] = list(query)
    if creds.security_token:
        pairs.append(("x-oss-security-token", creds.security_token))
    pairs += [
        ("x-oss-signature-version", V4_ALGORITHM),
        ("x-oss-credential", f"{creds.access_key_id}/{v4_scope(stamp[:8], region)}"),
        ("x-oss-date", stamp),
        ("x-oss-expires", str(expires_in)),
    ]
    canonical = v4_canonical_request(method, bucket, key, pairs, headers or {})
    sts = v4_string_to_sign(stamp, region, canonical)
    pairs.append(("x-oss-signature", v4_signature(creds.access_key_secret, stamp[:8], region, sts)))
    return pairs


def encode_query(pairs: QueryPairs) -> str:
    """A query string from pairs, values percent-encoded (bare flags stay bare)."""
    return "&".join(quote(k, safe="") + ("=" + quote(v, safe="") if v else "") for k, v in pairs)
