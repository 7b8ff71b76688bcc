"""Transfers to and from plain URLs (presigned V1/V4, public buckets): no signing here."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Mapping
from email.message import Message
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..errors import IntegrityError, InvalidInputError, ProtocolError
from ..models import TransferredObject
from ..protocol import planning
from ..protocol.crc64 import crc64_combine, crc64_combine_all
from ..protocol.keys import url_basename
from . import _files
from ._client import HttpCore, header_crc, safe_url
from ._common import Outcome, Pipeline, Progress, run_pool, walk_tree
from ._download import SMALL_INLINE, create_temp, stream_to_fd, stream_to_temp

STREAM_CHUNK = 4 << 20  # read size of a streamed PUT body


def validate_url(url: str) -> None:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("the URL is empty", hint="pass an http:// or https:// URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        # safe_url cannot parse it either: show it without query string or user info.
        shown = re.sub(r"//[^/@]*@", "//", url.split("?", 1)[0])[:200]
        raise InvalidInputError(
            f"malformed URL {shown}: {exc}", hint="check the URL (copy it again)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"unsupported URL {safe_url(url)}", hint="pass an http:// or https:// URL with a host"
        )


def _resolve_dest(path: str, name: str) -> Path:
    dest = Path(path)
    if path.endswith(("/", os.sep)) or dest.is_dir():
        if not name:
            raise InvalidInputError(
                f"cannot tell a file name for the download into directory {path}",
                hint="pass a file path instead of a directory",
            )
        return dest / name
    return dest


def _filename(content_disposition: str | None, url: str) -> str:
    if content_disposition:
        msg = Message()
        msg["content-disposition"] = content_disposition
        name = msg.get_filename()
        if name:
            safe = url_basename(name.replace("\\", "/"))
            if safe:
                return safe
    path = unquote(urlsplit(url).path)
    return "" if path.endswith("/") else url_basename(path)  # ".../dir/" names no file


# ---------------------------------------------------------------------------- upload


async def put_url(
    core: HttpCore,
    url: str,
    path: str,
    info: _files.SourceInfo | None,
    progress: Progress,
    prefetched: _files.SmallBody | None = None,
) -> TransferredObject:
    where = safe_url(url)
    known = info if info is not None else (await asyncio.to_thread(_files.stat_source, path))[1]
    size = known.size

    async def op() -> tuple[str, int]:
        async with core.slot():
            if prefetched is not None:  # read by the directory walker
                async with core.open_url("PUT", url, {}, prefetched.data, where) as r:
                    return r.headers.get("ETag", ""), _check(r.headers, prefetched.crc, where)
            if size <= SMALL_INLINE or size < core.config.multipart_threshold:
                data, _, crc, _ = await asyncio.to_thread(_files.read_whole, path, known)
                async with core.open_url("PUT", url, {}, data, where) as r:
                    return r.headers.get("ETag", ""), _check(r.headers, crc, where)
            crc_box = [0]
            fd, now = await asyncio.to_thread(_files.open_source, path)
            try:
                if now != known:
                    raise IntegrityError(f"{path} changed before it could be uploaded")
                headers = {"Content-Length": str(size)}
                body = _file_stream(fd, size, path, crc_box)
                async with core.open_url("PUT", url, headers, body, where) as r:
                    etag = r.headers.get("ETag", "")
                    return etag, _check(r.headers, crc_box[0], where)
            finally:
                os.close(fd)

    etag, crc = await core.retry(op, f"PUT {where}")
    await progress.add_bytes(size, path)
    await progress.file_done(path)
    return TransferredObject(key=where, size=size, etag=etag, crc64=crc, local_path=path)


def _check(headers: Mapping[str, str], crc: int, where: str) -> int:
    server = header_crc(headers)
    if server is not None and server != crc:
        raise IntegrityError(f"PUT {where}: CRC64 mismatch (sent {crc}, server has {server})")
    return crc


async def _file_stream(fd: int, size: int, path: str, crc_box: list[int]) -> AsyncIterator[bytes]:
    """File bytes in big chunks, the next one read (off the loop) while this one is sent."""
    pos = 0
    crc = 0
    nxt = asyncio.ensure_future(
        asyncio.to_thread(_files.read_part, fd, 0, min(STREAM_CHUNK, size), path)
    )
    try:
        while pos < size:
            data, c = await nxt
            pos += len(data)
            crc = crc64_combine(crc, c, len(data))
            if pos < size:
                nxt = asyncio.ensure_future(
                    asyncio.to_thread(
                        _files.read_part, fd, pos, min(STREAM_CHUNK, size - pos), path
                    )
                )
            yield data
        crc_box[0] = crc
    finally:
        if not nxt.done():
            nxt.cancel()


async def upload_url(core: HttpCore, url: str, path: str, progress: Progress) -> Outcome:
    validate_url(url)
    is_dir, info = await asyncio.to_thread(_files.stat_source, path)
    outcome = Outcome()
    if not is_dir:
        progress.files_total, progress.bytes_total = 1, info.size
        outcome.add(await put_url(core, url, path, info, progress))
        return outcome
    if urlsplit(url).query:
        raise InvalidInputError(
            f"{path} is a directory but the URL has a query string: a presigned URL names one "
            "object",
            hint="upload a single file to a presigned URL, or a directory to a public-write "
            "bucket URL without a query",
        )
    base = url.rstrip("/")

    async def handle(item: _files.WalkItem) -> None:
        if item.error:
            raise InvalidInputError(item.error, hint=item.hint)  # labelled with the path
        rel = quote("/".join(item.rel), safe="/~")
        if item.is_dir_marker:
            if not rel:
                return
            target = f"{base}/{rel}/"

            async def op() -> None:
                async with core.slot(), core.open_url("PUT", target, {}, b"", safe_url(target)):
                    pass

            await core.retry(op, f"PUT {safe_url(target)}")
            outcome.add(TransferredObject(key=safe_url(target), size=0, crc64=0))
            return
        target = f"{base}/{rel}"
        info = _files.SourceInfo(item.size, item.mtime_ns)
        outcome.add(await put_url(core, target, item.path, info, progress, item.body))

    pipe = Pipeline(core.config.concurrency * 2, handle, "upload")
    await pipe.run(lambda: walk_tree(path, progress), lambda it: it.path)
    outcome.errors = pipe.errors
    return outcome


# ---------------------------------------------------------------------------- download


async def download_url(core: HttpCore, url: str, path: str, progress: Progress) -> Outcome:
    """GET a URL. The first request asks for the first range: a 206 tells the size and
    ETag, and the rest comes in concurrent ranged GETs with If-Match; a 200 is streamed."""
    validate_url(url)
    where = safe_url(url)
    first_len = core.config.part_size
    outcome = Outcome()

    # The first answer: (dest, total, etag, whole-object crc, first bytes) or a finished object.
    async def first() -> tuple[Path, int, str, int | None, bytes] | TransferredObject:
        headers = {"Range": f"bytes=0-{first_len - 1}"}
        async with core.slot(), core.open_url("GET", url, headers, None, where, (200, 206)) as r:
            dest = _resolve_dest(path, _filename(r.headers.get("Content-Disposition"), url))
            etag = r.headers.get("ETag", "")
            server_crc = header_crc(r.headers)
            if r.status == 200:
                size, crc = await stream_to_temp(
                    r, dest, r.content_length, server_crc, f"GET {where}"
                )
                return TransferredObject(
                    key=where, size=size, etag=etag, crc64=crc, local_path=str(dest)
                )
            try:
                start, end, total = planning.parse_content_range(r.headers.get("Content-Range", ""))
            except ValueError:
                raise ProtocolError(f"GET {where}: 206 without a valid Content-Range") from None
            if start != 0 or total is None:
                raise ProtocolError(f"GET {where}: unexpected Content-Range")
            body = await r.read()
            if len(body) != end + 1:
                raise IntegrityError(f"GET {where}: body cut short")
            return dest, total, etag, server_crc, body

    got = await core.retry(first, f"GET {where}")
    if isinstance(got, TransferredObject):
        progress.files_total, progress.bytes_total = 1, got.size
        await progress.add_bytes(got.size, where)
        await progress.file_done(where)
        outcome.add(got)
        return outcome
    dest, total, etag, whole_crc, head = got
    progress.files_total, progress.bytes_total = 1, total
    fd, tmp = await create_temp(dest, total)
    owned = True
    try:
        head_crc = await asyncio.to_thread(_files.write_chunks, fd, [head], 0, 0)
        await progress.add_bytes(len(head), where)
        rest = [
            (off + len(head), n) for off, n in planning.plan_ranges(total - len(head), first_len)
        ]

        async def fetch(piece: tuple[int, int]) -> tuple[int, int]:
            off, n = piece
            headers = {"Range": planning.range_header(off, n)}
            if etag:
                headers["If-Match"] = etag

            async def op() -> int:
                async with (
                    core.slot(),
                    core.open_url("GET", url, headers, None, where, (206,)) as r,
                ):
                    _, crc = await stream_to_fd(r, fd, off, n, f"GET {where}")
                    return crc

            crc = await core.retry(op, f"GET {where} bytes {off}-{off + n - 1}")
            await progress.add_bytes(n, where)
            return crc, n

        crcs = await run_pool(rest, core.config.concurrency, fetch)
        crc = crc64_combine_all([(head_crc, len(head)), *crcs])
        if whole_crc is not None and crc != whole_crc:
            raise IntegrityError(
                f"GET {where}: CRC64 of the downloaded bytes ({crc}) differs from the server's "
                f"({whole_crc})",
                hint="download again; nothing was written to the destination",
            )
        owned = False
        await asyncio.to_thread(_files.finish_temp, fd, tmp, dest)
    except BaseException:
        if owned:
            _files.discard_temp(fd, tmp)
        raise
    await progress.file_done(where)
    outcome.add(
        TransferredObject(key=where, size=total, etag=etag, crc64=crc, local_path=str(dest))
    )
    return outcome
