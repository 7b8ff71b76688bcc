"""Request authentication: V1/V4 Authorization headers, presigned URLs, STS tokens.

The server recomputes each signature with the same sans-I/O builders the client
uses (`agentbay_oss.protocol.signing`). Rejections carry the OSS error code; for
SignatureDoesNotMatch the body shows the StringToSign the server computed, with
the STS token masked (secrets never go into a message).
"""

from __future__ import annotations

import functools
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ..protocol import signing
from .errors import OssError, invalid_argument

MAX_SKEW_SECONDS = 15 * 60
PRESIGN_V1_FIELDS = ("OSSAccessKeyId", "Expires", "Signature")


@dataclass
class Account:
    access_key_id: str
    secret: str
    token: str | None
    expires_at: float | None
    retired: bool = False

    def __repr__(self) -> str:  # never the secret or token
        return f"Account({signing.mask_secret(self.access_key_id)!r}, retired={self.retired})"


@dataclass(frozen=True)
class AuthInput:
    """The parts of a request a signature covers (decoded key and query values)."""

    method: str
    bucket: str
    key: str
    query: list[tuple[str, str | None]]
    headers: Mapping[str, str]  # lower-case names


def _denied(message: str, **extra: str) -> OssError:
    return OssError(403, "AccessDenied", message, extra=extra)


@functools.lru_cache(maxsize=64)
def v4_timestamp(text: str) -> float:
    """Seconds since the epoch of a V4 `yyyymmddTHHMMSSZ` stamp (cached: thousands of requests
    a second share a stamp, and strptime costs more than the rest of the date checks)."""
    try:
        if len(text) != 16 or text[8] != "T" or text[15] != "Z":
            raise ValueError(text)
        digits = text[:8] + text[9:15]
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(text)
        return datetime(
            int(text[0:4]), int(text[4:6]), int(text[6:8]),
            int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=timezone.utc,
        ).timestamp()  # fmt: skip
    except ValueError:
        raise _denied(f"Invalid x-oss-date {text[:40]!r}; expected yyyymmddTHHMMSSZ.") from None


class Authenticator:
    """Accepted credentials, replaceable while the server runs (token rotation tests)."""

    def __init__(self, region: str, access_key_id: str, secret: str, token: str | None) -> None:
        self.region = region
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._retired_tokens: set[str] = set()
        self.generation = 0  # bumped by every credential change, so fixtures can restore
        self.set_credentials(access_key_id, secret, token, None)

    def set_credentials(
        self, access_key_id: str, secret: str, token: str | None, expires_at: float | None
    ) -> None:
        """Install the one valid credential set; earlier tokens now answer SecurityTokenExpired."""
        with self._lock:
            self.generation += 1
            for acc in self._accounts.values():
                acc.retired = True
                if acc.token:
                    self._retired_tokens.add(acc.token)
            if token:
                self._retired_tokens.discard(token)
            self._accounts[access_key_id] = Account(
                access_key_id, secret, token or None, expires_at
            )

    def current(self) -> Account:
        """The one credential set accepted now (the last installed)."""
        with self._lock:
            return next(acc for acc in reversed(self._accounts.values()) if not acc.retired)

    def expire_token(self) -> None:
        """Make the current token expired now."""
        import time

        with self._lock:
            self.generation += 1
            for acc in self._accounts.values():
                if not acc.retired:
                    acc.expires_at = time.time() - 1

    # ------------------------------------------------------------------ checks

    def authenticate(self, req: AuthInput, now: float) -> bool:
        """True when signed and valid, False for an anonymous request; raises OssError."""
        q = dict(req.query)
        auth = req.headers.get("authorization", "")
        if auth:
            if auth.startswith(signing.V4_ALGORITHM):
                self._header_v4(req, auth, now)
            elif auth.startswith("OSS "):
                self._header_v1(req, auth, now)
            else:
                raise invalid_argument(
                    "Authorization header is invalid.", "Authorization", auth[:30]
                )
            return True
        if "x-oss-signature" in q or "x-oss-credential" in q:
            self._presign_v4(req, q, now)
            return True
        if "Signature" in q or "OSSAccessKeyId" in q:
            self._presign_v1(req, q, now)
            return True
        return False

    def account(self, ak: str, token: str | None, now: float) -> Account:
        with self._lock:
            acc = self._accounts.get(ak)
            retired_token = token is not None and token in self._retired_tokens
        if acc is None or (acc.retired and not acc.token):
            raise OssError(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                extra={"OSSAccessKeyId": ak},
            )
        if acc.token is None:
            if token:
                raise OssError(
                    403, "InvalidSecurityToken", "The security token you provided is invalid."
                )
            return acc
        if not token:
            raise OssError(
                403,
                "InvalidSecurityToken",
                "The security token is missing: this key id needs an STS token.",
            )
        if acc.retired or retired_token:
            raise OssError(
                403, "SecurityTokenExpired", "The security token you provided has expired."
            )
        if not hmac.compare_digest(token.encode(), acc.token.encode()):
            raise OssError(
                403, "InvalidSecurityToken", "The security token you provided is invalid."
            )
        if acc.expires_at is not None and now >= acc.expires_at:
            raise OssError(
                403, "SecurityTokenExpired", "The security token you provided has expired."
            )
        return acc

    @staticmethod
    def check_skew(when_ts: float, now: float) -> None:
        delta = abs(when_ts - now)
        if delta > MAX_SKEW_SECONDS:
            when = datetime.fromtimestamp(when_ts, tz=timezone.utc)
            server = datetime.fromtimestamp(now, tz=timezone.utc)
            raise OssError(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large "
                f"({int(delta)} s; at most {MAX_SKEW_SECONDS} s). Check the clock of this machine.",
                extra={
                    "RequestTime": signing.http_date(when),
                    "ServerTime": signing.http_date(server),
                    "MaxAllowedSkewMilliseconds": str(MAX_SKEW_SECONDS * 1000),
                },
            )

    @staticmethod
    def mismatch(
        ak: str, provided: str, string_to_sign: str, token: str | None, canonical: str = ""
    ) -> OssError:
        def mask(text: str) -> str:
            return text.replace(token, "***") if token else text

        extra = {
            "StringToSign": mask(string_to_sign),
            "SignatureProvided": provided,
            "OSSAccessKeyId": ak,
        }
        if canonical:
            extra["CanonicalRequest"] = mask(canonical)
        return OssError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            extra=extra,
        )

    def _header_v1(self, req: AuthInput, auth: str, now: float) -> None:
        ak, sep, provided = auth[4:].strip().rpartition(":")
        if not sep or not ak:
            raise invalid_argument("Authorization header is invalid.", "Authorization", auth[:30])
        h = req.headers
        token = h.get("x-oss-security-token") or h.get("security-token") or None
        acc = self.account(ak, token, now)
        date_text = h.get("x-oss-date") or h.get("date", "")
        if not date_text:
            raise _denied("OSS authentication requires a valid Date.")
        try:
            when = parsedate_to_datetime(date_text)
        except (TypeError, ValueError, IndexError):
            raise _denied(f"Invalid Date header {date_text[:40]!r}.") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        self.check_skew(when.timestamp(), now)
        sts = signing.v1_string_to_sign(
            req.method, req.bucket, req.key, req.query, h, h.get("date", "")
        )
        expected = signing.v1_signature(acc.secret, sts)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise self.mismatch(ak, provided, sts, token)

    def _header_v4(self, req: AuthInput, auth: str, now: float) -> None:
        fields: dict[str, str] = {}
        for item in auth[len(signing.V4_ALGORITHM) :].split(","):
            name, _, value = item.strip().partition("=")
            fields[name] = value
        cred, provided = fields.get("Credential", ""), fields.get("Signature", "")
        scope = cred.split("/")
        if (
            len(scope) != 5
            or not provided
            or scope[3] != "oss"
            or scope[4] != signing.V4_TERMINATOR
        ):
            raise invalid_argument("Authorization header is invalid.", "Authorization", auth[:60])
        ak, day, region = scope[0], scope[1], scope[2]
        h = req.headers
        token = h.get("x-oss-security-token") or h.get("security-token") or None
        acc = self.account(ak, token, now)
        stamp = h.get("x-oss-date", "")
        if not stamp:
            raise _denied("V4 signatures need an x-oss-date header.")
        self.check_skew(v4_timestamp(stamp), now)
        self._check_scope(day, region, stamp)
        extra = [x for x in fields.get("AdditionalHeaders", "").split(";") if x]
        canonical = signing.v4_canonical_request(
            req.method, req.bucket, req.key, req.query, h, extra
        )
        sts = signing.v4_string_to_sign(stamp, region, canonical)
        expected = signing.v4_signature(acc.secret, day, region, sts)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise self.mismatch(ak, provided, sts, token, canonical)

    def _check_scope(self, day: str, region: str, stamp: str) -> None:
        if day != stamp[:8]:
            raise _denied(f"The credential date {day!r} does not match x-oss-date {stamp[:8]!r}.")
        if region != self.region:
            raise invalid_argument(
                f"Invalid signing region {region!r}: this server serves region {self.region!r}.",
                "region",
                region,
            )

    def _presign_v1(self, req: AuthInput, q: dict[str, str | None], now: float) -> None:
        ak, expires, provided = (q.get(f) or "" for f in PRESIGN_V1_FIELDS)
        if not (ak and expires and provided):
            raise _denied("A presigned URL needs OSSAccessKeyId, Expires and Signature.")
        token = q.get("security-token") or None
        acc = self.account(ak, token, now)
        try:
            expires_at = int(expires)
        except ValueError:
            raise _denied(f"Invalid Expires {expires[:30]!r}.") from None
        if now > expires_at:
            raise _denied("Request has expired.", Expires=expires, ServerTime=str(int(now)))
        sts = signing.v1_string_to_sign(
            req.method, req.bucket, req.key, req.query, req.headers, expires
        )
        expected = signing.v1_signature(acc.secret, sts)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise self.mismatch(ak, provided, sts, token)

    def _presign_v4(self, req: AuthInput, q: dict[str, str | None], now: float) -> None:
        if q.get("x-oss-signature-version") != signing.V4_ALGORITHM:
            raise _denied("x-oss-signature-version must be OSS4-HMAC-SHA256.")
        cred, stamp = q.get("x-oss-credential") or "", q.get("x-oss-date") or ""
        provided, expires = q.get("x-oss-signature") or "", q.get("x-oss-expires") or ""
        scope = cred.split("/")
        if len(scope) != 5 or not (stamp and provided and expires):
            raise _denied(
                "A V4 presigned URL needs x-oss-credential, x-oss-date, x-oss-expires, x-oss-signature."
            )
        ak, day, region = scope[0], scope[1], scope[2]
        token = q.get("x-oss-security-token") or None
        acc = self.account(ak, token, now)
        try:
            lifetime = int(expires)
        except ValueError:
            raise _denied(f"Invalid x-oss-expires {expires[:30]!r}.") from None
        start = v4_timestamp(stamp)
        if now > start + lifetime:
            raise _denied("Request has expired.", Expires=expires, ServerTime=str(int(now)))
        if start > now + MAX_SKEW_SECONDS:
            raise _denied("The presigned URL is dated in the future.")
        self._check_scope(day, region, stamp)
        pairs = [(k, v) for k, v in req.query if k != "x-oss-signature"]
        extra = [x for x in (q.get("x-oss-additional-headers") or "").split(";") if x]
        canonical = signing.v4_canonical_request(
            req.method, req.bucket, req.key, pairs, req.headers, extra
        )
        sts = signing.v4_string_to_sign(stamp, region, canonical)
        expected = signing.v4_signature(acc.secret, day, region, sts)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise self.mismatch(ak, provided, sts, token, canonical)
