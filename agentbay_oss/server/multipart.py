"""Multipart uploads: initiate, upload (or copy) parts, complete, abort, list parts.

Parts are blob files; Complete makes them the object's segments without copying.
Complete and Abort of one upload are serialised by a per-upload lock, so two
concurrent Completes cannot both succeed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from pathlib import Path

from aiohttp import web

from ..protocol.crc64 import crc64, crc64_combine_all
from .backend import Backend, Handler, reply
from .bodies import drain, read_xml, receive_blob
from .errors import OssError, invalid_argument, no_such_upload
from .objects import copy_source, forbid_overwrite, object_headers
from .request import Ctx, int_param, parse_range
from .storage import ObjectRecord, PartRecord, UploadRecord
from .xmlio import MAX_PARTS, document, el, enc, flag, iso8601, parse_complete, part_xml, quoted

MIN_PART_SIZE = 100 * 1024
COPY_CHUNK = 1024 * 1024


class MultipartHandlers:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._locks: dict[str, asyncio.Lock] = {}

    def table(self) -> dict[str, Handler]:
        return {
            "InitiateMultipartUpload": self.initiate_upload,
            "UploadPart": self.upload_part,
            "UploadPartCopy": self.upload_part,
            "CompleteMultipartUpload": self.complete_upload,
            "AbortMultipartUpload": self.abort_upload,
            "ListParts": self.list_parts,
        }

    def _upload(self, ctx: Ctx) -> UploadRecord:
        upload_id = ctx.q.get("uploadId") or ""
        up = self.b.storage.get_upload(upload_id)
        if up is None or up.bucket != ctx.bucket or up.key != ctx.key:
            raise no_such_upload(upload_id)
        return up

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    async def initiate_upload(self, ctx: Ctx) -> web.StreamResponse:
        if ctx.has_body:
            await drain(ctx, self.b.stats)
        forbid_overwrite(self.b, ctx)
        content_type, stored = object_headers(ctx)
        stored["content-type"] = content_type
        up = self.b.storage.create_upload(ctx.bucket, ctx.key, stored)
        url = ctx.url_encoded
        parts = [
            el("Bucket", ctx.bucket),
            el("Key", enc(ctx.key, url)),
            el("UploadId", up.upload_id),
        ]
        if url:
            parts.append(el("EncodingType", "url"))
        return reply(body=document("InitiateMultipartUploadResult", parts))

    # ------------------------------------------------------------------ parts

    async def upload_part(self, ctx: Ctx) -> web.StreamResponse:
        """UploadPart, and UploadPartCopy (the part's bytes from x-oss-copy-source)."""
        b = self.b
        number = _part_number(ctx)
        up = self._upload(ctx)
        if ctx.op == "UploadPartCopy":
            blob, size, md5, crc = await self._copy_part_data(ctx)
        else:
            blob, size, md5, crc = await receive_blob(ctx, b.storage, b.executor, b.stats)
        etag = md5.hex().upper()
        part = PartRecord(up.upload_id, number, blob, size, etag, crc, time.time())
        garbage = b.storage.put_part(part)
        b.remove_later(garbage)
        if blob in garbage:
            raise no_such_upload(up.upload_id)
        headers = {"ETag": quoted(etag), "x-oss-hash-crc64ecma": str(crc)}
        if ctx.op == "UploadPartCopy":
            body = document(
                "CopyPartResult",
                [el("LastModified", iso8601(part.mtime)), el("ETag", quoted(etag))],
            )
            return reply(body=body, headers=headers)
        headers["Content-MD5"] = base64.b64encode(md5).decode()
        return reply(headers=headers)

    async def _copy_part_data(self, ctx: Ctx) -> tuple[str, int, bytes, int]:
        b = self.b
        if ctx.has_body:
            await drain(ctx, b.stats)
        src = copy_source(b, ctx)
        start, end = 0, src.size - 1
        if "x-oss-copy-source-range" in ctx.headers:
            wanted = parse_range(ctx.headers["x-oss-copy-source-range"], src.size)
            if wanted is not None and wanted[0] < src.size:
                start, end = wanted[0], min(wanted[1], src.size - 1)
        temp = b.storage.new_temp()
        sources: list[tuple[Path | bytes, int]] = [
            (b.storage.blob_path(blob), size) for blob, size in src.segments
        ]
        if src.data is not None:
            sources = [(src.data, src.size)]
        md5, crc = await asyncio.get_running_loop().run_in_executor(
            b.executor, _copy_range, sources, start, end - start + 1, str(temp)
        )
        return b.storage.commit_blob(temp), end - start + 1, md5, crc

    # ------------------------------------------------------------------ the end of an upload

    async def complete_upload(self, ctx: Ctx) -> web.StreamResponse:
        b = self.b
        up = self._upload(ctx)
        complete_all = (ctx.headers.get("x-oss-complete-all") or "").lower() == "yes"
        body = await read_xml(ctx, b.stats)
        async with self._lock(up.upload_id):
            up = self._upload(ctx)  # still there after waiting for a concurrent Complete?
            forbid_overwrite(b, ctx)  # checked now: the object may have appeared meanwhile
            chosen = _chosen_parts(b.storage.list_parts(up.upload_id), body, complete_all)
            digest = (
                hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen)).hexdigest().upper()
            )
            etag = f"{digest}-{len(chosen)}"
            crc = crc64_combine_all((p.crc, p.size) for p in chosen)
            headers = dict(up.headers)
            content_type = headers.pop("content-type", "application/octet-stream")
            rec = ObjectRecord(
                ctx.bucket, ctx.key, sum(p.size for p in chosen), etag, crc, time.time(), content_type, headers,
                "Multipart", [(p.blob, p.size) for p in chosen],
            )  # fmt: skip
            b.remove_later(b.storage.finish_upload(up.upload_id, rec, {p.number for p in chosen}))
        self._locks.pop(up.upload_id, None)
        url = ctx.url_encoded
        host = ctx.request.host
        # The object's URL in the addressing style the request used.
        virtual = host.lower().startswith(ctx.bucket + ".")
        path = enc(ctx.key, True) if virtual else f"{ctx.bucket}/{enc(ctx.key, True)}"
        parts = [
            el("Location", f"http://{host}/{path}"),
            el("Bucket", ctx.bucket), el("Key", enc(ctx.key, url)), el("ETag", quoted(etag)),
        ]  # fmt: skip
        if url:
            parts.append(el("EncodingType", "url"))
        return reply(
            body=document("CompleteMultipartUploadResult", parts),
            headers={"ETag": quoted(etag), "x-oss-hash-crc64ecma": str(crc)},
        )

    async def abort_upload(self, ctx: Ctx) -> web.StreamResponse:
        up = self._upload(ctx)
        async with self._lock(up.upload_id):
            up = self._upload(ctx)
            self.b.remove_later(self.b.storage.finish_upload(up.upload_id, None, set()))
        self._locks.pop(up.upload_id, None)
        return reply(status=204)

    async def list_parts(self, ctx: Ctx) -> web.StreamResponse:
        up = self._upload(ctx)
        url = ctx.url_encoded
        max_parts = int_param(ctx.q, "max-parts", 1000, 1, 1000)
        marker = int_param(ctx.q, "part-number-marker", 0, 0, MAX_PARTS)
        parts_all = self.b.storage.list_parts(up.upload_id, marker, max_parts + 1)
        truncated = len(parts_all) > max_parts
        shown = parts_all[:max_parts]
        next_marker = shown[-1].number if shown else marker
        items = [
            el("Bucket", ctx.bucket), el("Key", enc(ctx.key, url)), el("UploadId", up.upload_id),
            el("StorageClass", "Standard"), el("PartNumberMarker", marker), el("NextPartNumberMarker", next_marker),
            el("MaxParts", max_parts), el("IsTruncated", flag(truncated)),
        ]  # fmt: skip
        if url:
            items.append(el("EncodingType", "url"))
        items += [part_xml(p) for p in shown]
        return reply(body=document("ListPartsResult", items))


def _part_number(ctx: Ctx) -> int:
    raw = ctx.q.get("partNumber") or ""
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PARTS:
        raise invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive.",
            "partNumber",
            raw[:20],
        )
    return number


def _chosen_parts(uploaded: list[PartRecord], body: bytes, complete_all: bool) -> list[PartRecord]:
    """The parts a Complete names (or all, with x-oss-complete-all), checked as OSS checks them."""
    by_number = {p.number: p for p in uploaded}
    if complete_all:
        if body.strip():
            raise invalid_argument(
                "With x-oss-complete-all: yes the body must be empty.", "x-oss-complete-all", "yes"
            )
        chosen = [by_number[n] for n in sorted(by_number)]
    else:
        chosen = []
        last = 0
        for item in parse_complete(body):
            if item.number <= last:
                raise OssError(
                    400,
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. Parts must be ordered by part number.",
                )
            last = item.number
            part = by_number.get(item.number)
            if part is None or item.etag.strip('"').upper() != part.etag:
                raise OssError(
                    400, "InvalidPart",
                    "One or more of the specified parts could not be found or the specified entity tag "
                    "might not have matched the part's entity tag.",
                    extra={"PartNumber": str(item.number), "ETag": item.etag[:40]},
                )  # fmt: skip
            chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise OssError(
                400, "EntityTooSmall",
                f"Your proposed upload is smaller than the minimum allowed size: part {part.number} "
                f"has {part.size} bytes, every part but the last needs {MIN_PART_SIZE}.",
                extra={"PartNumber": str(part.number)},
            )  # fmt: skip
    if not chosen:
        raise invalid_argument("The upload has no parts to complete.", "x-oss-complete-all", "yes")
    return chosen


def _copy_range(
    segments: list[tuple[Path | bytes, int]], start: int, length: int, dest: str
) -> tuple[bytes, int]:
    """Copy a byte range spanning segment files (or inline bytes) into `dest`, hashing on the
    way (worker thread)."""
    md5 = hashlib.md5()
    crc = 0
    with open(dest, "wb") as out:
        pos = 0
        for path, size in segments:
            lo, hi = max(start, pos), min(start + length, pos + size)
            if lo < hi and isinstance(path, bytes):
                chunk = path[lo - pos : hi - pos]
                md5.update(chunk)
                crc = crc64(chunk, crc)
                out.write(chunk)
            elif lo < hi:
                with open(path, "rb") as f:
                    f.seek(lo - pos)
                    left = hi - lo
                    while left:
                        chunk = f.read(min(COPY_CHUNK, left))
                        if not chunk:
                            raise OSError("blob shorter than recorded")
                        md5.update(chunk)
                        crc = crc64(chunk, crc)
                        out.write(chunk)
                        left -= len(chunk)
            pos += size
    return md5.digest(), crc
