"""Object tagging: `?tagging` GET/PUT/DELETE, and tags set on creation (`x-oss-tagging`).

Tags live with the object's stored headers, under TAGS, as the URL-encoded query
string OSS takes in `x-oss-tagging` (`k1=v1&k2=v2`); GET and HEAD only say how many
there are (`x-oss-tagging-count`).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import web

from .backend import Backend, Handler, reply
from .bodies import read_xml
from .errors import OssError, no_such_key
from .request import Ctx
from .xmlio import parse_tagging, tagging_document

TAGS = "x-oss-tagging"  # the stored headers' entry, and the request header, holding the tags
MAX_TAGS = 10


def checked(tags: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tags as OSS accepts them: at most 10, unique keys of 1-128 characters, values <= 256."""
    if len(tags) > MAX_TAGS:
        raise OssError(400, "InvalidTag", f"An object can have at most {MAX_TAGS} tags.")
    seen: set[str] = set()
    for key, value in tags:
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise OssError(
                400, "InvalidTag", "A tag key has 1 to 128 characters and a value at most 256.",
                extra={"TagKey": key[:128]},
            )  # fmt: skip
        if key in seen:
            raise OssError(400, "InvalidTag", "Tag keys must be unique.", extra={"TagKey": key})
        seen.add(key)
    return tags


def encode(tags: list[tuple[str, str]]) -> str:
    return urlencode(tags, quote_via=quote)


def decode(stored: str) -> list[tuple[str, str]]:
    return parse_qsl(stored, keep_blank_values=True)


def from_header(value: str) -> str:
    """The `x-oss-tagging` request header, checked, in its stored form."""
    return encode(checked(decode(value)))


class TaggingHandlers:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def table(self) -> dict[str, Handler]:
        return {
            "GetObjectTagging": self.get_tagging,
            "PutObjectTagging": self.put_tagging,
            "DeleteObjectTagging": self.delete_tagging,
        }

    def _headers(self, ctx: Ctx) -> dict[str, str]:
        rec = self.b.storage.get_object(ctx.bucket, ctx.key, data=False)
        if rec is None:
            raise no_such_key(ctx.key)
        return rec.headers

    async def get_tagging(self, ctx: Ctx) -> web.StreamResponse:
        return reply(body=tagging_document(decode(self._headers(ctx).get(TAGS, ""))))

    async def put_tagging(self, ctx: Ctx) -> web.StreamResponse:
        tags = checked(parse_tagging(await read_xml(ctx, self.b.stats)))
        headers = self._headers(ctx)  # after the body: the object may have gone meanwhile
        if tags:
            headers[TAGS] = encode(tags)
        else:
            headers.pop(TAGS, None)
        self.b.storage.set_headers(ctx.bucket, ctx.key, headers)
        return reply()

    async def delete_tagging(self, ctx: Ctx) -> web.StreamResponse:
        headers = self._headers(ctx)
        if headers.pop(TAGS, None) is not None:
            self.b.storage.set_headers(ctx.bucket, ctx.key, headers)
        return reply(status=204)
