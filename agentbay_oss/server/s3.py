"""The S3 dialect: a translation layer over the OSS handlers, not a second server.

Real OSS serves the S3 API on the same endpoint; so does this server. A request signed
with AWS SigV4 (`Authorization: AWS4-HMAC-SHA256 ...` or `X-Amz-Algorithm` in the query)
is S3; everything else is OSS, untouched. For an S3 request the pipeline (`app`):

- `translate_request`: x-amz-* headers become the x-oss-* ones the handlers read
  (x-amz-meta-*, x-amz-copy-source[-range|-if-*], x-amz-metadata-directive, ...), S3's
  listing defaults and Range semantics are set; the headers as sent are kept for SigV4.
- `wrap_body` (after `s3auth` verified the signature): the body handlers read is decoded
  from aws-chunked framing and checked against its payload hash, chunk signatures and
  x-amz-checksum-* value (`S3Body`).
- `translate_response`: x-oss-meta-* become x-amz-meta-*, ETags are S3's lower-case hex,
  XML answers carry S3's namespace; `error_body` writes S3's error shape.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from ..protocol import sigv4
from ..protocol.awschunked import (
    ALGORITHMS,
    CHECKSUM_PREFIX,
    AwsChunkedDecoder,
    Checksum,
    ChunkError,
)
from .errors import OssError, invalid_argument
from .request import Body, Ctx
from .s3auth import S3Signed
from .sending import ObjectReply
from .xmlio import document, el

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000  # S3's default and cap for max-keys, max-uploads and max-parts

# S3 request headers -> the OSS header a handler reads.
_HEADERS = {
    "x-amz-copy-source": "x-oss-copy-source",
    "x-amz-copy-source-range": "x-oss-copy-source-range",
    "x-amz-copy-source-if-match": "x-oss-copy-source-if-match",
    "x-amz-copy-source-if-none-match": "x-oss-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since": "x-oss-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since": "x-oss-copy-source-if-unmodified-since",
    "x-amz-metadata-directive": "x-oss-metadata-directive",
    "x-amz-tagging-directive": "x-oss-tagging-directive",
    "x-amz-tagging": "x-oss-tagging",
    "x-amz-storage-class": "x-oss-storage-class",
}
# Conditions naming an ETag: S3 clients send ours back lower-case, the store keeps upper.
_ETAG_CONDITIONS = ("if-match", "if-none-match", "x-oss-copy-source-if-match",
                    "x-oss-copy-source-if-none-match")  # fmt: skip
# Error fields that name the OSS dialect.
_ERROR_FIELDS = {"OSSAccessKeyId": "AWSAccessKeyId"}

_S3_AUTH = sigv4.ALGORITHM + " "
_ROOT = re.compile(rb"^(<\?xml[^>]*\?>\s*<)([A-Za-z]+)>")
_ETAG = re.compile(rb"<ETag>([^<]*)</ETag>")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def is_s3(headers: Mapping[str, str], q: Mapping[str, str | None]) -> bool:
    """The dialect of a request: SigV4-signed is S3 (anonymous requests are served as OSS)."""
    return "X-Amz-Algorithm" in q or headers.get("authorization", "").startswith(_S3_AUTH)


# ---------------------------------------------------------------------------- requests


def translate_request(ctx: Ctx) -> None:
    """Rewrite an S3 request's headers and query into the OSS terms the handlers read."""
    ctx.s3 = True
    sent = ctx.headers
    ctx.raw_headers = sent
    h: dict[str, str] = {}
    for name, value in sent.items():
        if name.startswith("x-amz-meta-"):
            h["x-oss-meta-" + name[11:]] = value
        elif name in _HEADERS:
            h[_HEADERS[name]] = value
        elif not name.startswith("x-amz-"):
            h[name] = value
    for name in _ETAG_CONDITIONS:
        if name in h:
            h[name] = h[name].upper()
    if "content-encoding" in h:  # aws-chunked is framing, not the object's encoding
        codings = [c.strip() for c in h["content-encoding"].split(",")]
        kept = ", ".join(c for c in codings if c and c.lower() != "aws-chunked")
        if kept:
            h["content-encoding"] = kept
        else:
            del h["content-encoding"]
    if "range" in h:
        h["x-oss-range-behavior"] = "standard"  # S3 answers 416 to an unsatisfiable range
    ctx.headers = h
    for name in ("max-keys", "max-uploads", "max-parts"):
        raw = ctx.q.get(name)
        if not raw or (raw.isdigit() and int(raw) > MAX_KEYS):
            ctx.q[name] = str(MAX_KEYS)
    if _is_chunked(sent):
        decoded = sent.get("x-amz-decoded-content-length")
        ctx.body_length = int(decoded) if decoded is not None and decoded.isdigit() else None


def _is_chunked(sent: Mapping[str, str]) -> bool:
    return sent.get("x-amz-content-sha256", "") in sigv4.STREAMING or "aws-chunked" in sent.get(
        "content-encoding", ""
    )


def wrap_body(ctx: Ctx, signed: S3Signed) -> None:
    """Make `ctx.body` the decoded, verified payload of an authenticated S3 request."""
    sent = ctx.raw_headers
    payload = signed.payload_hash
    chunked = _is_chunked(sent)
    checksum: Checksum | None = None
    announced = ""
    trailer = sent.get("x-amz-trailer", "").strip().lower()
    try:
        if chunked and trailer.startswith(CHECKSUM_PREFIX):
            checksum = Checksum(trailer[len(CHECKSUM_PREFIX) :])
        else:
            for name, value in sent.items():  # a checksum header (not -algorithm or -type)
                if name.startswith(CHECKSUM_PREFIX) and name[len(CHECKSUM_PREFIX) :] in ALGORITHMS:
                    checksum, announced = Checksum(name[len(CHECKSUM_PREFIX) :]), value
                    break
    except ChunkError as exc:
        raise _as_oss(exc) from None
    decoder: AwsChunkedDecoder | None = None
    if chunked:
        signing = signed.chunks if payload.startswith("STREAMING-AWS4-HMAC-SHA256") else None
        decoder = AwsChunkedDecoder(signing, checksum)
        checksum = None  # verified by the decoder from the trailer
    elif payload != sigv4.UNSIGNED_PAYLOAD and not _HEX64.match(payload):
        raise invalid_argument(
            "x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode.",
            "x-amz-content-sha256",
            payload[:70],
        )
    sha = hashlib.sha256() if _HEX64.match(payload) else None
    ctx.body = S3Body(ctx.body, decoder, sha, payload.lower(), checksum, announced)


def _as_oss(exc: ChunkError) -> OssError:
    return OssError(403 if exc.code == "SignatureDoesNotMatch" else 400, exc.code, exc.message)


@dataclass(slots=True)
class S3Body:
    """The payload of an S3 request body: aws-chunked decoded, hashes checked at its end."""

    inner: Body
    decoder: AwsChunkedDecoder | None
    sha: hashlib._Hash | None  # of the payload, when x-amz-content-sha256 is a hex SHA-256
    expected_sha: str
    checksum: Checksum | None  # announced in an x-amz-checksum-* header
    announced: str
    ended: bool = False

    async def readany(self) -> bytes:
        try:
            while not self.ended:
                raw = await self.inner.readany()
                if not raw:
                    self._end()
                    break
                pieces = self.decoder.feed(raw) if self.decoder else [raw]
                if not pieces:
                    continue  # framing only
                data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                if self.sha is not None:
                    self.sha.update(data)
                if self.checksum is not None:
                    self.checksum.update(data)
                return data
        except ChunkError as exc:
            raise _as_oss(exc) from None
        return b""

    def _end(self) -> None:
        self.ended = True
        if self.decoder:
            self.decoder.finish()
        if self.sha is not None and self.sha.hexdigest() != self.expected_sha:
            raise OssError(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        if self.checksum is not None:
            self.checksum.verify(self.announced)


# ---------------------------------------------------------------------------- answers


def translate_response(resp: web.StreamResponse) -> None:
    """Rewrite an OSS answer into S3's terms, in place."""
    headers = resp.headers
    for name, value in list(headers.items()):
        if name.lower().startswith("x-oss-meta-"):
            del headers[name]
            headers["x-amz-meta-" + name[11:]] = value
    if "ETag" in headers:
        headers["ETag"] = headers["ETag"].lower()
    if (
        isinstance(resp, web.Response)
        and not isinstance(resp, ObjectReply)
        and resp.content_type == "application/xml"
        and isinstance(resp.body, bytes)
    ):
        resp.body = xml_body(resp.body)


def xml_body(body: bytes) -> bytes:
    """An OSS XML answer as S3 writes it: its namespace on the root, ETags lower-case."""
    body = _ROOT.sub(rb'\1\2 xmlns="' + NAMESPACE.encode() + rb'">', body, count=1)
    return _ETAG.sub(lambda m: b"<ETag>" + m[1].lower() + b"</ETag>", body)


def translate_error(err: OssError) -> OssError:
    """S3's status for an error where it differs from OSS's: a copy source's failed
    if-none-match / if-modified-since is 412 in S3, 304 in OSS."""
    if err.status == 304 and err.code == "PreconditionFailed":
        err.status = 412
    return err


def error_body(err: OssError, request_id: str, resource: str) -> bytes:
    """S3's error shape: Code, Message, Resource, RequestId, then the error's own fields."""
    parts = [
        el("Code", err.code),
        el("Message", err.message),
        el("Resource", resource),
        el("RequestId", request_id),
    ]
    parts += [el(_ERROR_FIELDS.get(k, k), v) for k, v in err.extra.items()]
    return document("Error", parts)
