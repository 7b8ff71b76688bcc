"""Server-side copy: no byte passes through this machine.

CopyObject below `multipart_threshold`; above it UploadPartCopy in concurrent parts (same
part planning, same abort-on-failure as uploads). A prefix copies every object under it with
the session's worker pool. The source is pinned by its ETag, so a source that changes during
a copy fails the copy instead of mixing two versions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from ..errors import AuthError, IntegrityError, InvalidInputError
from ..models import TransferredObject
from ..protocol import planning
from ..protocol import xml as oxml
from ..protocol.xml import ListEntry
from ._client import ObjectMeta, OssClient, header_crc
from ._common import Outcome, Pipeline, Progress, run_pool
from ._target import ObjectTarget
from ._upload import PartDone, abort_shielded, complete, start_multipart


def _source_headers(src: ObjectTarget, meta: ObjectMeta) -> dict[str, str]:
    h = {"x-oss-copy-source": "/" + src.bucket + "/" + quote(src.key, safe="/~")}
    if meta.etag:
        h["x-oss-copy-source-if-match"] = meta.etag
    return h


async def check_same_region(client: OssClient, src_bucket: str, dst_bucket: str) -> None:
    """OSS copies server-side only between buckets of one region. Asked before any copy
    between two buckets (GetBucketLocation, twice), so the caller gets this sentence, not a
    half-copied prefix. Without the right to ask, the copy goes ahead and OSS decides."""
    if src_bucket == dst_bucket:
        return
    regions = []
    for bucket in (src_bucket, dst_bucket):
        try:
            _, _, body = await client.simple("GET", bucket, "", query=[("location", None)])
        except AuthError:
            return
        regions.append(oxml.parse_location(body))
    if regions[0] != regions[1]:
        raise InvalidInputError(
            f"oss://{src_bucket} is in {regions[0]} and oss://{dst_bucket} in {regions[1]}: "
            "OSS copies objects server-side only between buckets of the same region",
            hint="move the bytes through this machine instead, e.g. "
            "`agentbay-oss cp oss://SRC/KEY - | agentbay-oss cp - oss://DST/KEY`",
        )


async def copy_object(
    src: ObjectTarget, dst: ObjectTarget, progress: Progress, meta: ObjectMeta | None = None
) -> TransferredObject:
    if (src.bucket, src.key) == (dst.bucket, dst.key):
        raise InvalidInputError(
            f"copying {src.where} onto itself would change nothing",
            hint="pick another destination key or bucket",
        )
    meta = meta or await src.head()
    cfg = src.core.config
    if meta.size < cfg.multipart_threshold or meta.size == 0:
        headers = _source_headers(src, meta)
        headers["x-oss-metadata-directive"] = "COPY"
        _, h, body = await dst.simple("PUT", headers=headers)
        etag = oxml.parse_copy_result(body) or h.get("ETag", "")
        crc = header_crc(h)
    else:
        etag, crc = await _copy_parts(src, dst, meta, progress)
    if crc is not None and meta.crc64 is not None and crc != meta.crc64:
        raise IntegrityError(
            f"copy of {src.where} to {dst.where}: the copy's CRC64 ({crc}) differs from the "
            f"source's ({meta.crc64})",
            hint="copy again",
        )
    if meta.size < cfg.multipart_threshold:
        await progress.add_bytes(meta.size, dst.where)
    await progress.file_done(dst.key)
    return TransferredObject(
        key=dst.key,
        size=meta.size,
        etag=etag,
        crc64=meta.crc64,
        content_type=meta.content_type,
        metadata=dict(meta.metadata),
    )


async def _copy_parts(
    src: ObjectTarget, dst: ObjectTarget, meta: ObjectMeta, progress: Progress
) -> tuple[str, int | None]:
    cfg = src.core.config
    part_size = planning.part_size_for(meta.size, cfg.part_size)
    # The copy keeps the source's type and metadata, as CopyObject's COPY directive does.
    headers = {"Content-Type": meta.content_type} if meta.content_type else {}
    headers.update({f"x-oss-meta-{k}": v for k, v in meta.metadata})
    mp = await start_multipart(dst, headers, part_size)
    source = _source_headers(src, meta)

    async def copy(part: planning.Part) -> None:
        h = dict(source)
        h["x-oss-copy-source-range"] = planning.range_header(part.offset, part.size)
        query = [("partNumber", str(part.number)), ("uploadId", mp.upload_id)]
        _, rh, body = await dst.simple("PUT", query=query, headers=h)
        etag = oxml.parse_copy_result(body) or rh.get("ETag", "")
        mp.parts[part.number] = PartDone(part.number, part.size, etag, header_crc(rh) or 0)
        await progress.add_bytes(part.size, dst.where)

    try:
        await run_pool(planning.plan_parts(meta.size, part_size), cfg.concurrency, copy)
        etag = await complete(mp, expected=meta.crc64)
    except BaseException:
        await abort_shielded(mp)
        raise
    return etag, meta.crc64


async def copy_prefix(
    client: OssClient,
    src_bucket: str,
    src_prefix: str,
    dst_bucket: str,
    dst_prefix: str,
    progress: Progress,
    outcome: Outcome,
) -> None:
    """Every object under `src_prefix` to the same relative key under `dst_prefix`."""
    progress.totals_final = False

    async def produce() -> AsyncIterator[ListEntry]:
        async for page in client.iter_list(src_bucket, src_prefix):
            for entry in page.entries:
                progress.files_total += 1
                progress.bytes_total += entry.size
                yield entry
        progress.totals_final = True

    async def handle(entry: ListEntry) -> None:
        src = ObjectTarget(client, src_bucket, entry.key)
        dst = ObjectTarget(client, dst_bucket, dst_prefix + entry.key[len(src_prefix) :])
        await outcome.add(await copy_object(src, dst, progress))

    pipe = Pipeline(client.core.config.concurrency * 2, handle, "copy", outcome)
    await pipe.run(produce, lambda e: f"oss://{src_bucket}/{e.key}")
