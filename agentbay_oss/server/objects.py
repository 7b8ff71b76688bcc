"""The object resource: put, copy, get (ranges, conditions, overrides), head, delete, ACL."""

from __future__ import annotations

import base64
import time

from aiohttp import web

from .backend import Backend, Handler, reply
from .bodies import drain, object_body_length, receive_blob, receive_inline
from .errors import (
    EC_COPY_CROSS_REGION,
    OssError,
    invalid_argument,
    no_such_bucket,
    no_such_key,
)
from .request import Ctx, check_conditions, http_time, parse_range, strict_unquote
from .sending import ObjectReply, ObjectStream
from .storage import INLINE_MAX, ObjectRecord
from .tagging import TAGS
from .tagging import decode as tags_decode
from .tagging import from_header as tags_from_header
from .xmlio import acl_xml, document, el, iso8601, owner_xml, quoted

# Request headers kept with an object; the first five are sent back on GET and HEAD.
STORED_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-oss-storage-class",
    "x-oss-object-acl",
)
RETURNED_HEADERS = frozenset(STORED_HEADERS[:5])
# GET's query overrides -> the header each replaces, spelled as the answer's headers dict
# spells it (stored headers are lower-case), so an override replaces, never doubles, a value.
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


# ---------------------------------------------------------------------------- shared with multipart


def object_headers(ctx: Ctx) -> tuple[str, dict[str, str]]:
    """(Content-Type, headers to store) of a request that creates an object."""
    h = ctx.headers
    stored = {k: v for k, v in h.items() if k.startswith("x-oss-meta-") or k in STORED_HEADERS}
    if TAGS in h:
        stored[TAGS] = tags_from_header(h[TAGS])
    return h.get("content-type") or "application/octet-stream", stored


def forbid_overwrite(b: Backend, ctx: Ctx) -> None:
    """FileAlreadyExists when `x-oss-forbid-overwrite: true` and the object exists."""
    if (ctx.headers.get("x-oss-forbid-overwrite") or "").lower() == "true" and b.storage.get_object(
        ctx.bucket, ctx.key, data=False
    ):
        raise OssError(
            409, "FileAlreadyExists", "The object exists and x-oss-forbid-overwrite is true."
        )


def copy_source(b: Backend, ctx: Ctx) -> ObjectRecord:
    """The object named by x-oss-copy-source, readable by this request, its conditions met."""
    raw = ctx.headers["x-oss-copy-source"].partition("?")[0]
    src_bucket, _, src_key = raw.lstrip("/").partition("/")
    src_bucket, src_key = strict_unquote(src_bucket), strict_unquote(src_key)
    if not src_bucket or not src_key:
        raise invalid_argument(
            "x-oss-copy-source must be /bucket/key.", "x-oss-copy-source", raw[:80]
        )
    if not ctx.signed and src_bucket not in b.public_buckets:
        raise OssError(
            403, "AccessDenied", "Anonymous requests cannot read the copy source bucket."
        )
    if not b.storage.bucket_exists(src_bucket):
        raise no_such_bucket(src_bucket)
    if b.region_of(src_bucket) != b.region_of(ctx.bucket):
        raise OssError(
            400,
            "InvalidArgument",
            "Cross-region copy of an object is not supported.",
            ec=EC_COPY_CROSS_REGION,
        )
    src = b.storage.get_object(src_bucket, src_key)
    if src is None:
        raise no_such_key(src_key)
    status = check_conditions(ctx.headers, src, "x-oss-copy-source-")
    if status is not None:
        raise OssError(
            412 if status == 412 else 304,
            "PreconditionFailed",
            "At least one of the copy-source preconditions you specified did not hold.",
        )
    return src


# ---------------------------------------------------------------------------- handlers


class ObjectHandlers:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def table(self) -> dict[str, Handler]:
        return {
            "PutObject": self.put_object,
            "CopyObject": self.copy_object,
            "GetObject": self.get_object,
            "HeadObject": self.get_object,
            "GetObjectMeta": self.get_object,
            "DeleteObject": self.delete_object,
            "GetObjectAcl": self.get_object_acl,
            "PutObjectAcl": self.put_object_acl,
        }

    async def put_object(self, ctx: Ctx) -> web.StreamResponse:
        b = self.b
        forbid_overwrite(b, ctx)
        content_type, stored = object_headers(ctx)
        expected = object_body_length(ctx)
        data: bytes | None = None
        segments: list[tuple[str, int]] = []
        if expected is not None and expected <= INLINE_MAX:
            data, md5, crc = await receive_inline(ctx, expected, b.stats)
            size = len(data)
        else:
            blob, size, md5, crc = await receive_blob(ctx, b.storage, b.executor, b.stats)
            segments.append((blob, size))
        etag = md5.hex().upper()
        rec = ObjectRecord(
            ctx.bucket, ctx.key, size, etag, crc, time.time(), content_type, stored, "Normal",
            segments, data,
        )  # fmt: skip
        b.remove_later(b.storage.put_object(rec))
        headers = {
            "ETag": quoted(etag),
            "Content-MD5": base64.b64encode(md5).decode(),
            "x-oss-hash-crc64ecma": str(crc),
        }
        return reply(headers=headers)

    async def copy_object(self, ctx: Ctx) -> web.StreamResponse:
        b = self.b
        if ctx.has_body:
            await drain(ctx, b.stats)
        src = copy_source(b, ctx)
        forbid_overwrite(b, ctx)
        directive = (ctx.headers.get("x-oss-metadata-directive") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise invalid_argument(
                "x-oss-metadata-directive must be COPY or REPLACE.",
                "x-oss-metadata-directive",
                directive,
            )
        content_type, stored = (
            (src.content_type, dict(src.headers)) if directive == "COPY" else object_headers(ctx)
        )
        tag_directive = (ctx.headers.get("x-oss-tagging-directive") or "COPY").upper()
        if tag_directive == "COPY":  # the source's tags, whatever the metadata directive
            stored.pop(TAGS, None)
            if TAGS in src.headers:
                stored[TAGS] = src.headers[TAGS]
        elif tag_directive == "REPLACE":  # those of x-oss-tagging (object_headers), or none
            if TAGS in ctx.headers:
                stored[TAGS] = tags_from_header(ctx.headers[TAGS])
            else:
                stored.pop(TAGS, None)
        else:
            raise invalid_argument(
                "x-oss-tagging-directive must be COPY or REPLACE.",
                "x-oss-tagging-directive",
                tag_directive[:20],
            )
        segments = [(b.storage.link_blob(blob), size) for blob, size in src.segments]
        now = time.time()
        rec = ObjectRecord(
            ctx.bucket, ctx.key, src.size, src.etag, src.crc, now, content_type, stored, src.otype,
            segments, src.data,
        )  # fmt: skip
        b.remove_later(b.storage.put_object(rec))
        body = document(
            "CopyObjectResult", [el("ETag", quoted(rec.etag)), el("LastModified", iso8601(now))]
        )
        return reply(body=body, headers={"x-oss-hash-crc64ecma": str(rec.crc)})

    async def delete_object(self, ctx: Ctx) -> web.StreamResponse:
        self.b.remove_later(self.b.storage.delete_object(ctx.bucket, ctx.key))
        return reply(status=204)

    async def get_object(self, ctx: Ctx) -> web.StreamResponse:
        """GetObject, HeadObject and GetObjectMeta."""
        rec = self.b.storage.get_object(ctx.bucket, ctx.key, data=ctx.method == "GET")
        if rec is None:
            raise no_such_key(ctx.key)
        headers = {
            "ETag": quoted(rec.etag),
            "Last-Modified": http_time(rec.mtime),
            "x-oss-object-type": rec.otype,
            "x-oss-storage-class": rec.headers.get("x-oss-storage-class", "Standard"),
            "x-oss-hash-crc64ecma": str(rec.crc),
        }
        if rec.otype == "Appendable":  # where the next append goes
            headers["x-oss-next-append-position"] = str(rec.size)
        if TAGS in rec.headers:
            headers["x-oss-tagging-count"] = str(len(tags_decode(rec.headers[TAGS])))
        status = check_conditions(ctx.headers, rec)
        if status == 412:
            raise OssError(
                412,
                "PreconditionFailed",
                "At least one of the preconditions you specified did not hold.",
                headers=headers,
            )
        if status == 304:
            return web.Response(status=304, headers=headers)
        for name, value in rec.headers.items():
            if name.startswith("x-oss-meta-") or name in RETURNED_HEADERS:
                headers[name] = value
        headers["Content-Type"] = rec.content_type
        headers["Accept-Ranges"] = "bytes"
        for param, header in RESPONSE_OVERRIDES.items():
            if ctx.q.get(param):
                headers[header] = ctx.q[param] or ""
        start, end, status = 0, rec.size - 1, 200
        if ctx.method == "GET" and "range" in ctx.headers:
            wanted = parse_range(ctx.headers["range"], rec.size)
            standard = (ctx.headers.get("x-oss-range-behavior") or "").lower() == "standard"
            if wanted is not None and wanted[0] >= rec.size:
                if standard:
                    raise OssError(
                        416, "InvalidRange", "The requested range cannot be satisfied.",
                        headers={"Content-Range": f"bytes */{rec.size}"},
                    )  # fmt: skip
            elif wanted is not None and (wanted[1] < rec.size or standard):
                start, end, status = wanted[0], min(wanted[1], rec.size - 1), 206
                headers["Content-Range"] = f"bytes {start}-{end}/{rec.size}"
        length = end - start + 1
        if rec.data is not None:  # an inline object (GET only): headers and body in one send
            whole = start == 0 and length == rec.size
            body = rec.data if whole else rec.data[start : start + length]
            return ObjectReply(status=status, body=body, headers=headers)
        return ObjectStream(status, headers, rec, start, length, ctx.method == "GET")

    async def get_object_acl(self, ctx: Ctx) -> web.StreamResponse:
        if self.b.storage.get_object(ctx.bucket, ctx.key, data=False) is None:
            raise no_such_key(ctx.key)
        return reply(body=document("AccessControlPolicy", [owner_xml(), acl_xml("default")]))

    async def put_object_acl(self, ctx: Ctx) -> web.StreamResponse:
        if self.b.storage.get_object(ctx.bucket, ctx.key, data=False) is None:
            raise no_such_key(ctx.key)
        return reply()
