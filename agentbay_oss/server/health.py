"""`GET /-/health`: liveness for CI scripts and orchestrators, no credentials needed.

"-" can never be a bucket name (OSS's rule), so the path collides with no OSS request.
"""

from __future__ import annotations

import json

from aiohttp import web

from .. import __version__
from .storage import Storage

HEALTH_PATH = "/-/health"


def health_answer(request: web.BaseRequest, storage: Storage) -> web.Response | None:
    """The answer to a health check, or None when `request` is not one."""
    if request.method not in ("GET", "HEAD") or request.raw_path.split("?", 1)[0] != HEALTH_PATH:
        return None
    body = {"status": "ok", "server": "agentbay-oss", "version": __version__,
            "buckets": len(storage.list_buckets())}  # fmt: skip
    return web.Response(
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
