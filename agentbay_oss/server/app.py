"""The OSS REST front: one request's way through the server, from bytes to an answer.

`OssApp.__call__` is the pipeline: parse the target (path style, or the bucket in the
Host under a configured suffix), name the operation (`routing`),
let the fault seam act (`fault_seam`), check the key, authenticate, check the bucket,
invite the body (100-continue), run the operation's handler (`service`, `buckets`,
`objects`, `append`, `tagging`, `multipart`), then stamp the answer and send an object's bytes
(`sending`). Every failure becomes OSS error XML (or `x-oss-err` on HEAD);
aiohttp's own parser errors are rewritten the same way by `OssRequestHandler`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from concurrent.futures import Executor

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from . import s3, subresources
from .append import AppendHandlers
from .auth import Authenticator, AuthInput
from .backend import Backend, Handler
from .bodies import MAX_OBJECT_SIZE
from .buckets import BucketHandlers
from .errors import OssError, invalid_argument, no_such_bucket
from .fault_seam import FaultSeam
from .faults import NO_FAULT, FaultInjector, InjectedReset, ServerStats
from .health import health_answer
from .idle import IdleTimeoutHandler
from .multipart import MultipartHandlers
from .objects import ObjectHandlers
from .request import Ctx, bucket_in_host, is_utf8, new_request_id, parse_target
from .routing import ANONYMOUS_OPS, BUCKETLESS_OPS, TAKES_BODY, check_key, operation
from .s3auth import S3Authenticator
from .sending import ObjectReply, ObjectStream, send_object
from .service import ServiceHandlers
from .storage import Storage
from .tagging import TaggingHandlers
from .xmlio import error_body

log = logging.getLogger("agentbay_oss.server")


class OssApp:
    """Request handler for aiohttp's low-level server; state lives in Storage and the knobs."""

    def __init__(
        self,
        storage: Storage,
        auth: Authenticator,
        faults: FaultInjector,
        stats: ServerStats,
        executor: Executor,
        public_buckets: set[str],
        region: str,
        host_suffix: str | None = None,
        bucket_regions: dict[str, str] | None = None,
    ) -> None:
        self.storage = storage
        self.host_suffix = host_suffix
        self.auth = auth
        self.s3auth = S3Authenticator(auth)
        self.faults = faults
        self.stats = stats
        self.public_buckets = public_buckets
        self.seam = FaultSeam(faults, stats, executor)
        backend = Backend(storage, executor, stats, public_buckets, region)
        backend.bucket_regions = dict(bucket_regions or {})
        self._handlers: dict[str, Handler] = {
            **ServiceHandlers(backend).table(),
            **BucketHandlers(backend).table(),
            **ObjectHandlers(backend).table(),
            **AppendHandlers(backend).table(),
            **TaggingHandlers(backend).table(),
            **MultipartHandlers(backend).table(),
        }

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        health = health_answer(request, self.storage)
        if health is not None:  # outside OSS's namespace ("-" is no bucket name): no auth
            return health
        ctx = Ctx(request, new_request_id())
        try:
            resp = await self._handle(ctx)
            if ctx.decision is not NO_FAULT:
                resp = self.seam.answer(ctx, resp)
            if ctx.s3:
                s3.translate_response(resp)
            self._stamp(ctx, resp)
            if isinstance(resp, ObjectStream):
                await send_object(ctx, resp, self.storage, self.stats)
            elif isinstance(resp, ObjectReply):
                self.stats.bytes_sent += resp.content_length or 0
        except OssError as err:
            resp = await self._error(ctx, err)
        except InjectedReset:
            self.stats.faults["reset"] += 1
            return self._abort(request)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug: still an OSS error, and logged
            log.exception("internal error in %s", ctx.op)
            resp = await self._error(ctx, OssError(500, "InternalError", f"{type(exc).__name__}"))
        if log.isEnabledFor(logging.INFO):
            # Never the query string: it may carry signatures and STS tokens.
            log.info("%s %s /%s/%s -> %s", ctx.op, ctx.method, ctx.bucket, ctx.key, resp.status)
        return resp

    async def _handle(self, ctx: Ctx) -> web.StreamResponse:
        """Everything from the request line to the handler's answer."""
        for name, value in ctx.headers.items():
            if not value.isascii() and not is_utf8(value):
                bad = name.encode("utf-8", "replace").decode()
                ctx.headers = {}  # nothing undecodable may reach an error body
                raise invalid_argument(
                    f"The value of header {bad!r} is not valid UTF-8.", "header", bad
                )
        latency = self.seam.arrive(ctx)
        if latency:
            await asyncio.sleep(latency)
        in_host = bucket_in_host(ctx.request.host, self.host_suffix) if self.host_suffix else None
        ctx.bucket, ctx.key, ctx.query = parse_target(ctx.request.raw_path, in_host)
        ctx.q = dict(ctx.query)
        if s3.is_s3(ctx.headers, ctx.q):
            s3.translate_request(ctx)
        ctx.op = operation(ctx.method, ctx.bucket, ctx.key, ctx.q, ctx.headers)
        self.stats.requests[ctx.op] += 1
        if ctx.op == subresources.NOT_IMPLEMENTED:  # before any fault, handler or body read
            raise OssError(
                501,
                "NotImplemented",
                subresources.describe(ctx.method, ctx.bucket, ctx.key, ctx.q),
            )
        if self.seam.admit(ctx):
            await self.seam.refuse(ctx)
        if ctx.key:
            check_key(ctx.key, ctx.op)
        now = time.time() + self.faults.config.clock_offset_s
        if ctx.s3:
            verified = self.s3auth.authenticate(
                ctx.method, ctx.request.raw_path, ctx.query, ctx.raw_headers, now
            )
            if ctx.op in TAKES_BODY:
                s3.wrap_body(ctx, verified)
            signed = True
        else:
            signed = self.auth.authenticate(
                AuthInput(ctx.method, ctx.bucket, ctx.key, ctx.query, ctx.headers), now
            )
        if not signed and not (ctx.bucket in self.public_buckets and ctx.op in ANONYMOUS_OPS):
            raise OssError(
                403,
                "AccessDenied",
                "You have no right to access this resource anonymously: sign the request.",
            )
        if ctx.op not in BUCKETLESS_OPS and not self.storage.bucket_exists(ctx.bucket):
            raise no_such_bucket(ctx.bucket)
        if ctx.expects_continue and ctx.has_body:
            # Authorised: now invite the body (the low-level server leaves this to us).
            await ctx.request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await self._handlers[ctx.op](ctx)

    @staticmethod
    def _stamp(ctx: Ctx, resp: web.StreamResponse) -> None:
        """The headers every answer carries (no Date: aiohttp adds it, formatted once a second)."""
        resp.headers["x-oss-request-id"] = ctx.request_id
        if ctx.s3:
            resp.headers["x-amz-request-id"] = ctx.request_id
        resp.headers["Server"] = "AliyunOSS"
        if ctx.body_left_unread:
            resp.force_close()  # see routing.TAKES_BODY

    @staticmethod
    def _abort(request: web.BaseRequest) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("fault injection: connection dropped")

    async def _error(self, ctx: Ctx, err: OssError) -> web.StreamResponse:
        if ctx.s3:
            err = s3.translate_error(err)
            resource = "/" + "/".join(x for x in (ctx.bucket, ctx.key) if x)
            body = s3.error_body(err, ctx.request_id, resource)
        else:
            body = error_body(err, ctx.request_id, ctx.request.host or "localhost")
        headers = {"x-oss-ec": err.ec, **err.headers}
        if ctx.s3 and "ETag" in headers:
            headers["ETag"] = headers["ETag"].lower()
        resp: web.StreamResponse
        if ctx.method == "HEAD" and ctx.s3:  # S3 answers HEAD errors with the status alone
            resp = web.Response(status=err.status, headers=headers)
        elif ctx.method == "HEAD":
            headers["x-oss-err"] = base64.b64encode(body).decode()
            resp = web.Response(status=err.status, headers=headers)
        else:
            resp = web.Response(
                status=err.status, body=body, headers=headers, content_type="application/xml"
            )
        if ctx.decision is not NO_FAULT:
            resp = self.seam.answer(ctx, resp)
        self._stamp(ctx, resp)
        length = ctx.request.content_length
        unread = not ctx.request.content.is_eof() and ctx.has_body
        # A rejected upload is drained (lingering) so its client can read the error, unless absurd.
        huge = unread and (length if length is not None else 1 << 40) > MAX_OBJECT_SIZE
        stalled = err.code == "RequestTimeout"  # idle.py: the client stopped sending its body
        if err.status >= 500 or err.code == "IncompleteBody" or huge or stalled:
            resp.force_close()
            if huge or stalled:
                # Send the answer now, then close: skips aiohttp's lingering drain of the body.
                await resp.prepare(ctx.request)
                await resp.write_eof()
                ctx.request.protocol.force_close()
        return resp


class OssRequestHandler(IdleTimeoutHandler):
    """aiohttp's connection handler, answering its own parse errors with OSS error XML (and
    cutting stalled clients, see idle.py)."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):  # the client left (or a fault dropped it): no answer
            log.debug("connection dropped: %s", exc)
            resp = web.Response(status=499)
            resp.force_close()
            return resp
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        if status == 500:
            log.error("unhandled server error", exc_info=exc)
        code = {400: "InvalidRequest", 413: "EntityTooLarge", 431: "RequestHeaderTooLarge"}.get(
            status, "InternalError"
        )
        if status >= 500:
            err = OssError(status, code, "The server failed on this request; see its log.")
        else:
            text = (message or "").splitlines()[0][:200] if message else "bad request"
            err = OssError(status, code, f"The HTTP request could not be parsed: {text}")
        rid = new_request_id()
        body = error_body(err, rid, "localhost")
        resp = web.Response(status=status, body=body, content_type="application/xml")
        resp.headers["x-oss-request-id"] = rid
        resp.headers["x-oss-ec"] = err.ec
        resp.headers["Server"] = "AliyunOSS"
        resp.force_close()
        return resp


class OssHttpServer(web.Server):
    """Low-level aiohttp server whose connections use OssRequestHandler."""

    def __call__(self) -> RequestHandler:
        return OssRequestHandler(self, loop=self._loop, **self._kwargs)
