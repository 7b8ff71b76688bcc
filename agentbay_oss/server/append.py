"""AppendObject: appendable objects, grown at `?append&position=N` (how ossfs writes).

Each append must name the object's current length as its position (else 409
PositionNotEqualToLength, with the right one in `x-oss-next-append-position`), and only
objects created by an append take more (else 409 ObjectNotAppendable). The answer's
`x-oss-hash-crc64ecma` is the CRC-64 of the whole object, chained from the previous one,
which is what oss2 checks. The first append's headers (type, metadata) are the object's.

Storage: an appendable object stays inline in its row while it fits (INLINE_MAX); beyond
that each append adds a blob segment, so an append never rewrites earlier bytes.
"""

from __future__ import annotations

import time

from aiohttp import web

from ..protocol.crc64 import crc64_combine
from .backend import Backend, Handler, reply
from .bodies import MAX_OBJECT_SIZE, object_body_length, receive_blob, receive_inline
from .errors import EC_APPEND_NO_POSITION, OssError, invalid_argument
from .objects import object_headers
from .request import Ctx
from .storage import INLINE_MAX, ObjectRecord
from .xmlio import quoted

APPENDABLE = "Appendable"
NEXT_POSITION = "x-oss-next-append-position"


def appendable_etag(crc: int, size: int) -> str:
    """An appendable object's ETag: not an MD5 (as on OSS), but it changes with every append."""
    return f"{crc:016X}{size:016X}"


def _position(ctx: Ctx) -> int:
    raw = ctx.q.get("position")
    if raw is None or not raw.isdigit():
        raise OssError(
            400, "InvalidArgument", "AppendObject needs a position: a non-negative integer.",
            extra={"ArgumentName": "position", "ArgumentValue": (raw or "")[:20]},
            ec=EC_APPEND_NO_POSITION,
        )  # fmt: skip
    return int(raw)


def _check(current: ObjectRecord | None, position: int) -> None:
    """Refuse an append that does not continue an appendable object at its end."""
    if current is not None and current.otype != APPENDABLE:
        raise OssError(409, "ObjectNotAppendable", "The object is not an appendable object.")
    size = 0 if current is None else current.size
    if position != size:
        raise OssError(
            409, "PositionNotEqualToLength",
            f"Position is not equal to file length: position {position}, length {size}.",
            headers={NEXT_POSITION: str(size)},
        )  # fmt: skip


class AppendHandlers:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def table(self) -> dict[str, Handler]:
        return {"AppendObject": self.append_object}

    async def append_object(self, ctx: Ctx) -> web.StreamResponse:
        b = self.b
        position = _position(ctx)
        _check(b.storage.get_object(ctx.bucket, ctx.key, data=False), position)
        expected = object_body_length(ctx)
        if expected is not None and position + expected > MAX_OBJECT_SIZE:
            raise invalid_argument(
                f"An appendable object may hold at most {MAX_OBJECT_SIZE} bytes."
            )
        blob: str | None = None
        data = b""
        if expected is not None and expected <= INLINE_MAX:
            data, _, crc = await receive_inline(ctx, expected, b.stats)
            size = len(data)
        else:
            blob, size, _, crc = await receive_blob(ctx, b.storage, b.executor, b.stats)
        # From here to the row's commit nothing awaits: no other append can come between.
        current = b.storage.get_object(ctx.bucket, ctx.key)
        try:
            _check(current, position)
        except OssError:  # another append won the race while this body arrived
            b.remove_later([blob] if blob else [])
            raise
        total = position + size
        old_data: bytes | None
        segments: list[tuple[str, int]]
        if current is None:
            content_type, headers = object_headers(ctx)
            whole_crc, old_data, segments = crc, b"", []
        else:
            content_type, headers = current.content_type, current.headers
            whole_crc = crc64_combine(current.crc, crc, size)
            old_data, segments = current.data, list(current.segments)
        new_data: bytes | None = None
        if blob is None and old_data is not None and total <= INLINE_MAX:
            new_data = old_data + data  # still small: stays in the row
        else:
            if old_data:  # leaving the row: its bytes become the first segment
                segments.append((b.storage.write_blob(old_data), len(old_data)))
            if blob is None and size:
                blob = b.storage.write_blob(data)
            if blob is not None:
                segments.append((blob, size))
        rec = ObjectRecord(
            ctx.bucket, ctx.key, total, appendable_etag(whole_crc, total), whole_crc, time.time(),
            content_type, headers, APPENDABLE, segments, new_data,
        )  # fmt: skip
        kept = {name for name, _ in segments}
        b.remove_later([name for name in b.storage.put_object(rec) if name not in kept])
        return reply(
            headers={
                NEXT_POSITION: str(total),
                "x-oss-hash-crc64ecma": str(whole_crc),
                "ETag": quoted(rec.etag),
            }
        )
