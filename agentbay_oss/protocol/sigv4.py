"""AWS Signature Version 4 (AWS4-HMAC-SHA256), as S3 uses it: the S3 dialect's signer.

Pure functions over plain data, beside the OSS signer (`signing`): the local server
recomputes a request's signature with them, and the chunk and trailer signatures of
`aws-chunked` bodies (`awschunked`). boto3 and rclone are the judges in the tests.

Conventions as in `signing`: `query` holds (name, value) pairs with *decoded* values, a
bare flag (`?uploads`) has the value None or ""; `headers` maps lower-case names to values.
The canonical URI is given as sent: S3 signs the path without normalising or re-encoding it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

QueryPairs = Sequence[tuple[str, str | None]]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
SERVICE = "s3"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's limit for X-Amz-Expires


def uri_encode(text: str, keep_slash: bool = False) -> str:
    """SigV4's URI encoding: everything but A-Z a-z 0-9 - _ . ~ (and `/` in paths)."""
    return quote(text, safe="/" if keep_slash else "")


def canonical_query(query: QueryPairs, skip: str = "") -> str:
    """Pairs encoded, then sorted by name and value; `skip` (X-Amz-Signature) left out."""
    items = sorted((uri_encode(k), uri_encode(v or "")) for k, v in query if k != skip)
    return "&".join(f"{k}={v}" for k, v in items)


def canonical_request(
    method: str,
    path: str,
    query: QueryPairs,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
    skip: str = "",
) -> str:
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers]
    return "\n".join(
        [
            method,
            path or "/",
            canonical_query(query, skip),
            "".join(lines),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def scope(day: str, region: str, service: str = SERVICE) -> str:
    return f"{day}/{region}/{service}/{TERMINATOR}"


def string_to_sign(stamp: str, scope_: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{stamp}\n{scope_}\n{digest}"


@functools.lru_cache(maxsize=64)
def signing_key(secret: str, day: str, region: str, service: str = SERVICE) -> bytes:
    """The derived key (cached: it changes once a day per region)."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def chunk_string_to_sign(stamp: str, scope_: str, previous: str, chunk_sha256: str) -> str:
    """What one chunk of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body signs (chained)."""
    return f"{ALGORITHM}-PAYLOAD\n{stamp}\n{scope_}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}"


def trailer_string_to_sign(stamp: str, scope_: str, previous: str, trailer: bytes) -> str:
    """What the trailer of a signed aws-chunked body signs (its lines, each ending in \\n)."""
    digest = hashlib.sha256(trailer).hexdigest()
    return f"{ALGORITHM}-TRAILER\n{stamp}\n{scope_}\n{previous}\n{digest}"


@dataclass(frozen=True)
class Credential:
    """`AKID/20260101/region/s3/aws4_request`, split."""

    access_key_id: str
    day: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return scope(self.day, self.region, self.service)


def parse_credential(text: str) -> Credential:
    """ValueError unless the credential has five fields ending in aws4_request."""
    fields = text.split("/")
    if len(fields) != 5 or fields[4] != TERMINATOR or not all(fields[:4]):
        raise ValueError("malformed credential scope")
    return Credential(*fields[:4])


@dataclass(frozen=True)
class Authorization:
    """An `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    """ValueError unless it is a well-formed AWS4-HMAC-SHA256 Authorization header."""
    if not value.startswith(ALGORITHM + " "):
        raise ValueError("not AWS4-HMAC-SHA256")
    fields: dict[str, str] = {}
    for item in value[len(ALGORITHM) :].split(","):
        name, _, field = item.strip().partition("=")
        fields[name] = field
    signed = tuple(h for h in fields.get("SignedHeaders", "").split(";") if h)
    provided = fields.get("Signature", "")
    if not signed or not provided:
        raise ValueError("SignedHeaders and Signature are required")
    return Authorization(parse_credential(fields.get("Credential", "")), signed, provided)
