"""The service resource (`GET /`): ListBuckets."""

from __future__ import annotations

from aiohttp import web

from .backend import Backend, Handler, reply
from .errors import OssError
from .request import Ctx
from .xmlio import bucket_fields, document, el, node, owner_xml


class ServiceHandlers:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def table(self) -> dict[str, Handler]:
        return {"ListBuckets": self.list_buckets}

    async def list_buckets(self, ctx: Ctx) -> web.StreamResponse:
        if not ctx.signed:
            raise OssError(403, "AccessDenied", "Anonymous access to the bucket list is denied.")
        prefix = ctx.q.get("prefix") or ""
        host, region = ctx.request.host, self.b.region
        buckets = [
            node("Bucket", *bucket_fields(name, created, host, region))
            for name, created in self.b.storage.list_buckets(prefix)
        ]
        body = document(
            "ListAllMyBucketsResult",
            [
                owner_xml(),
                el("Prefix", prefix),
                el("IsTruncated", "false"),
                node("Buckets", *buckets),
            ],
        )
        return reply(body=body)
