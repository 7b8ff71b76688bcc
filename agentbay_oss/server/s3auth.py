"""S3 dialect authentication: AWS SigV4 in the Authorization header or a presigned query.

Checked against the same accounts as the OSS dialect (`Authenticator`: AK/SK, STS token
in `x-amz-security-token`), with the sans-I/O signer `protocol.sigv4`. The scope's region
is whatever the client signed with (us-east-1 for most S3 tools, or the server's): the
signature covers it, and the region proves nothing the secret does not. A valid request
yields `S3Signed`, from which an aws-chunked body's chunk signatures are chained.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from ..protocol import sigv4
from ..protocol.awschunked import ChunkSigning
from .auth import MAX_SKEW_SECONDS, Authenticator, v4_timestamp
from .errors import OssError, invalid_argument

Query = list[tuple[str, str | None]]


@dataclass(frozen=True)
class S3Signed:
    """A verified SigV4 request: what its body's chunk signatures chain from."""

    payload_hash: str  # x-amz-content-sha256 (or UNSIGNED-PAYLOAD)
    chunks: ChunkSigning


def _denied(message: str) -> OssError:
    return OssError(403, "AccessDenied", message)


def canonical_paths(raw_path: str) -> list[str]:
    """The canonical URIs to try: the path as sent (what S3 signers sign), and its strict
    re-encoding (for a client whose wire encoding is looser than its signer's)."""
    path = raw_path.partition("?")[0].partition("#")[0]
    if path.startswith(("http://", "https://")):
        path = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
    strict = sigv4.uri_encode(unquote(path), keep_slash=True)
    return [path] if strict == path else [path, strict]


class S3Authenticator:
    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def authenticate(
        self, method: str, raw_path: str, query: Query, headers: Mapping[str, str], now: float
    ) -> S3Signed:
        """Verify the request's SigV4 signature; raises OssError (S3 codes)."""
        q = dict(query)
        header = headers.get("authorization", "")
        if header:
            try:
                parsed = sigv4.parse_authorization(header)
            except ValueError as exc:
                raise invalid_argument(
                    f"Authorization header is invalid: {exc}.", "Authorization", header[:40]
                ) from None
            cred, signed, provided = parsed.credential, parsed.signed_headers, parsed.signature
            stamp = headers.get("x-amz-date", "")
            token = headers.get("x-amz-security-token") or None
            payload = headers.get("x-amz-content-sha256", "")
            if not payload:
                raise invalid_argument(
                    "SigV4 requests need x-amz-content-sha256.", "x-amz-content-sha256"
                )
            skip = ""
        else:
            if q.get("X-Amz-Algorithm") != sigv4.ALGORITHM:
                raise _denied("X-Amz-Algorithm must be AWS4-HMAC-SHA256.")
            try:
                cred = sigv4.parse_credential(q.get("X-Amz-Credential") or "")
            except ValueError:
                raise _denied("X-Amz-Credential is malformed.") from None
            signed = tuple(h for h in (q.get("X-Amz-SignedHeaders") or "").split(";") if h)
            provided, stamp = q.get("X-Amz-Signature") or "", q.get("X-Amz-Date") or ""
            token = q.get("X-Amz-Security-Token") or None
            payload = q.get("X-Amz-Content-Sha256") or sigv4.UNSIGNED_PAYLOAD
            skip = "X-Amz-Signature"
            if not (signed and provided):
                raise _denied("A presigned URL needs X-Amz-SignedHeaders and X-Amz-Signature.")
        if cred.service != sigv4.SERVICE:
            raise _denied(f"The credential scope's service must be s3, not {cred.service[:20]!r}.")
        if "host" not in signed:
            raise _denied("SigV4 requests must sign the host header.")
        account = self.auth.account(cred.access_key_id, token, now)
        if not stamp:
            raise _denied("SigV4 requests need x-amz-date (X-Amz-Date when presigned).")
        start = v4_timestamp(stamp)
        if cred.day != stamp[:8]:
            raise _denied(f"The credential date {cred.day!r} does not match {stamp[:8]!r}.")
        if skip:
            self._check_expiry(q.get("X-Amz-Expires") or "", start, now)
        else:
            self.auth.check_skew(start, now)
        key = sigv4.signing_key(account.secret, cred.day, cred.region, cred.service)
        sts = canonical = ""
        for path in canonical_paths(raw_path):
            canonical = sigv4.canonical_request(method, path, query, headers, signed, payload, skip)
            sts = sigv4.string_to_sign(stamp, cred.scope, canonical)
            expected = sigv4.signature(key, sts)
            if hmac.compare_digest(expected.encode(), provided.encode()):
                return S3Signed(payload, ChunkSigning(key, stamp, cred.scope, expected))
        if token:  # a presigned URL carries the token URI-encoded: mask that form too
            canonical = canonical.replace(sigv4.uri_encode(token), "***")
        raise self.auth.mismatch(cred.access_key_id, provided, sts, token, canonical)

    @staticmethod
    def _check_expiry(expires: str, start: float, now: float) -> None:
        try:
            lifetime = int(expires)
        except ValueError:
            raise _denied(f"Invalid X-Amz-Expires {expires[:30]!r}.") from None
        if not 0 < lifetime <= sigv4.MAX_PRESIGN_SECONDS:
            raise _denied("X-Amz-Expires must be between 1 and 604800 seconds.")
        if now > start + lifetime:
            raise _denied("Request has expired.")
        if start > now + MAX_SKEW_SECONDS:
            raise _denied("The presigned URL is dated in the future.")
