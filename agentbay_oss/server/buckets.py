"""The bucket resource: create, delete, describe, list objects and uploads, delete in batch."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from ..protocol.keys import OSS_BUCKET_NAME
from .backend import Backend, Handler, reply
from .bodies import drain, read_xml
from .errors import OssError, invalid_argument
from .request import Ctx, int_param
from .storage import UploadRecord
from .xmlio import (
    acl_xml,
    bucket_fields,
    common_prefix_xml,
    contents_xml,
    document,
    el,
    enc,
    flag,
    node,
    owner_xml,
    parse_delete,
    upload_xml,
)

_BUCKET_NAME = OSS_BUCKET_NAME  # one rule for PutBucket, `serve` and LocalOssServer


def _token_encode(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def _token_decode(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument(
            "The continuation token is invalid.", "continuation-token", token[:40]
        ) from None


class BucketHandlers:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def table(self) -> dict[str, Handler]:
        return {
            "PutBucket": self.put_bucket,
            "DeleteBucket": self.delete_bucket,
            "GetBucketInfo": self.get_bucket_info,
            "GetBucketLocation": self.get_bucket_location,
            "GetBucketAcl": self.get_bucket_acl,
            "ListObjects": self.list_objects,
            "ListObjectsV2": self.list_objects,
            "ListMultipartUploads": self.list_uploads,
            "DeleteMultipleObjects": self.delete_multiple,
        }

    # ------------------------------------------------------------------ the bucket itself

    async def put_bucket(self, ctx: Ctx) -> web.StreamResponse:
        if not ctx.signed:
            raise OssError(403, "AccessDenied", "Anonymous requests cannot create buckets.")
        if not _BUCKET_NAME.match(ctx.bucket):
            raise OssError(
                400, "InvalidBucketName",
                "The bucket name must be 3-63 characters of lowercase letters, digits and hyphens, "
                "starting and ending with a letter or digit.", extra={"BucketName": ctx.bucket},
            )  # fmt: skip
        if ctx.has_body:
            await drain(ctx, self.b.stats)  # CreateBucketConfiguration: storage class etc. ignored
        self.b.storage.create_bucket(ctx.bucket)
        return reply(headers={"Location": f"/{ctx.bucket}"})

    async def delete_bucket(self, ctx: Ctx) -> web.StreamResponse:
        if not ctx.signed:
            raise OssError(403, "AccessDenied", "Anonymous requests cannot delete buckets.")
        if not self.b.storage.bucket_is_empty(ctx.bucket):
            raise OssError(
                409, "BucketNotEmpty", "The bucket you tried to delete is not empty (objects or multipart uploads).",
                extra={"BucketName": ctx.bucket},
            )  # fmt: skip
        self.b.storage.delete_bucket(ctx.bucket)
        return reply(status=204)

    async def get_bucket_info(self, ctx: Ctx) -> web.StreamResponse:
        if ctx.method == "HEAD":
            return reply()
        created = next(
            (c for n, c in self.b.storage.list_buckets(ctx.bucket) if n == ctx.bucket), 0.0
        )
        fields = bucket_fields(ctx.bucket, created, ctx.request.host, self.b.region)
        acl = acl_xml(self.b.bucket_acl(ctx.bucket))
        return reply(body=document("BucketInfo", [node("Bucket", *fields, owner_xml(), acl)]))

    async def get_bucket_location(self, ctx: Ctx) -> web.StreamResponse:
        return reply(body=document("LocationConstraint", [f"oss-{self.b.region_of(ctx.bucket)}"]))

    async def get_bucket_acl(self, ctx: Ctx) -> web.StreamResponse:
        acl = acl_xml(self.b.bucket_acl(ctx.bucket))
        return reply(body=document("AccessControlPolicy", [owner_xml(), acl]))

    # ------------------------------------------------------------------ listings

    async def list_objects(self, ctx: Ctx) -> web.StreamResponse:
        q = ctx.q
        v2 = ctx.op == "ListObjectsV2"
        url = ctx.url_encoded
        if q.get("encoding-type") not in (None, "", "url"):
            raise invalid_argument(
                "encoding-type must be url.", "encoding-type", q.get("encoding-type") or ""
            )
        prefix, delimiter = q.get("prefix") or "", q.get("delimiter") or ""
        max_keys = int_param(q, "max-keys", 100, 1, 1000)
        if v2:
            token, start_after = q.get("continuation-token") or "", q.get("start-after") or ""
            after = _token_decode(token) if token else start_after
        else:
            after = q.get("marker") or ""
        listing = self.b.storage.list_objects(ctx.bucket, prefix, after, delimiter, max_keys)
        fetch_owner = (not v2) or (q.get("fetch-owner") or "").lower() == "true"
        parts = [el("Name", ctx.bucket), el("Prefix", enc(prefix, url))]
        if v2:
            if token:
                parts.append(el("ContinuationToken", token))
            if start_after:
                parts.append(el("StartAfter", enc(start_after, url)))
        else:
            parts.append(el("Marker", enc(after, url)))
        parts += [el("MaxKeys", max_keys), el("Delimiter", enc(delimiter, url))]
        parts.append(el("IsTruncated", flag(listing.truncated)))
        if listing.truncated:
            if v2:
                parts.append(el("NextContinuationToken", _token_encode(listing.next_marker)))
            else:
                parts.append(el("NextMarker", enc(listing.next_marker, url)))
        if url:
            parts.append(el("EncodingType", "url"))
        if v2:
            parts.append(el("KeyCount", len(listing.contents) + len(listing.prefixes)))
        parts += [contents_xml(rec, url, fetch_owner) for rec in listing.contents]
        parts += [common_prefix_xml(cp, url) for cp in listing.prefixes]
        return reply(body=document("ListBucketResult", parts))

    async def list_uploads(self, ctx: Ctx) -> web.StreamResponse:
        q = ctx.q
        url = ctx.url_encoded
        prefix, delimiter = q.get("prefix") or "", q.get("delimiter") or ""
        key_marker, id_marker = q.get("key-marker") or "", q.get("upload-id-marker") or ""
        max_uploads = int_param(q, "max-uploads", 1000, 1, 1000)
        uploads: list[UploadRecord] = []
        prefixes: list[str] = []
        truncated = False
        next_key = next_id = ""
        for up in self.b.storage.list_uploads(ctx.bucket):
            if not up.key.startswith(prefix):
                continue
            if key_marker and (
                up.key < key_marker
                or (up.key == key_marker and (not id_marker or up.upload_id <= id_marker))
            ):
                continue
            cp = ""
            if delimiter and (cut := up.key.find(delimiter, len(prefix))) >= 0:
                cp = up.key[: cut + len(delimiter)]
                if (prefixes and prefixes[-1] == cp) or cp == key_marker:
                    continue
            if len(uploads) + len(prefixes) >= max_uploads:
                truncated = True
                break
            if cp:
                prefixes.append(cp)
                next_key, next_id = cp, ""
            else:
                uploads.append(up)
                next_key, next_id = up.key, up.upload_id
        parts = [
            el("Bucket", ctx.bucket), el("KeyMarker", enc(key_marker, url)), el("UploadIdMarker", id_marker),
            el("NextKeyMarker", enc(next_key if truncated else "", url)),
            el("NextUploadIdMarker", next_id if truncated else ""), el("Delimiter", enc(delimiter, url)),
            el("Prefix", enc(prefix, url)), el("MaxUploads", max_uploads), el("IsTruncated", flag(truncated)),
        ]  # fmt: skip
        if url:
            parts.append(el("EncodingType", "url"))
        parts += [upload_xml(up, url) for up in uploads]
        parts += [common_prefix_xml(cp, url) for cp in prefixes]
        return reply(body=document("ListMultipartUploadsResult", parts))

    # ------------------------------------------------------------------ batch delete

    async def delete_multiple(self, ctx: Ctx) -> web.StreamResponse:
        url = ctx.url_encoded
        keys, quiet = parse_delete(await read_xml(ctx, self.b.stats))
        parts: list[str] = []
        for key in keys:
            self.b.remove_later(self.b.storage.delete_object(ctx.bucket, key))
            if not quiet:
                parts.append(node("Deleted", el("Key", enc(key, url))))
        if url:
            parts.append(el("EncodingType", "url"))
        return reply(body=document("DeleteResult", parts))
