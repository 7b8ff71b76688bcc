"""The one place injected faults touch a request; handlers never see them.

The pipeline (`app`) calls in at three points, without an extra await when no fault is on:
- `arrive`: draw the request's decision (first, in arrival order, so a seed replays) and say
  how long to wait (latency);
- `admit`: once the operation is known, refuse it with a 503 (throttled or failed: `refuse`),
  drop the connection up front, or arm a drop in the middle of an upload's body (`ctx.body`
  is swapped);
- `answer`: on the handler's answer, a wrong `x-oss-hash-crc64ecma`, and for an object's bytes
  a writer that drops the connection or flips a byte mid-body.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor

from aiohttp import web

from .bodies import drain
from .errors import OssError
from .faults import NO_FAULT, Decision, FaultInjector, InjectedReset, ServerStats
from .request import Body, Ctx
from .sending import ObjectReply, ObjectStream, Plan

SEND_CHUNK = 1024 * 1024
CRC_HEADER = "x-oss-hash-crc64ecma"
# Operations whose body a reset drops in the middle; every other one is dropped up front.
MID_BODY_RESETS = frozenset({"GetObject", "PutObject", "UploadPart", "AppendObject"})


class _DroppedBody:
    """An upload body whose connection drops once `at` bytes arrived (a reset fault)."""

    __slots__ = ("_inner", "_left", "_stats")

    def __init__(self, inner: Body, at: int, stats: ServerStats) -> None:
        self._inner, self._left, self._stats = inner, at, stats

    async def readany(self) -> bytes:
        if self._left <= 0:  # an empty body: dropped before it starts
            raise InjectedReset()
        chunk = await self._inner.readany()
        self._left -= len(chunk)
        if chunk and self._left <= 0:
            self._stats.bytes_received += len(chunk)  # it did arrive
            raise InjectedReset()
        return chunk


class FaultSeam:
    def __init__(self, injector: FaultInjector, stats: ServerStats, executor: Executor) -> None:
        self.injector = injector
        self.stats = stats
        self.executor = executor

    def arrive(self, ctx: Ctx) -> float:
        """Draw the request's decision; returns the latency to wait, in seconds."""
        ctx.decision = self.injector.decide()
        return self.injector.config.latency_ms / 1000

    def admit(self, ctx: Ctx) -> bool:
        """Apply the decision once the operation is known; True: refuse it (`refuse`)."""
        if not self.injector.applies_to(ctx.op):
            ctx.decision = NO_FAULT
        d = ctx.decision
        self.stats.record(ctx.op, "throttle" if d.throttle else "fail" if d.fail else "")
        if d is NO_FAULT:
            return False
        if d.throttle or d.fail:
            return True
        if d.reset and ctx.op not in MID_BODY_RESETS:
            raise InjectedReset()
        if d.reset and ctx.op != "GetObject":
            expected = ctx.body_length
            at = 0 if expected == 0 else max(1, int((expected or 1 << 20) * d.reset_fraction))
            ctx.body = _DroppedBody(ctx.body, at, self.stats)
        return False

    async def refuse(self, ctx: Ctx) -> None:
        """Answer 503: throttled (with x-oss-qos-delay-time) or failed."""
        if ctx.has_body and not ctx.expects_continue:  # such a client sends nothing yet
            await drain(ctx, self.stats)
        if ctx.decision.throttle:
            self.stats.faults["throttle"] += 1
            delay = str(self.injector.config.throttle_delay_ms)
            raise OssError(
                503, "ServiceUnavailable", "Please reduce your request rate.",
                headers={"x-oss-qos-delay-time": delay},
            )  # fmt: skip
        self.stats.faults["fail"] += 1
        raise OssError(
            503, "ServiceUnavailable", "Injected fault: the service is unavailable, retry."
        )

    def answer(self, ctx: Ctx, resp: web.StreamResponse) -> web.StreamResponse:
        """The handler's (or an error's) answer, with this request's faults applied (the
        caller skips this for NO_FAULT: the common case costs one comparison)."""
        d = ctx.decision
        if d.bad_crc and CRC_HEADER in resp.headers:
            self.stats.faults["bad_crc"] += 1
            resp.headers[CRC_HEADER] = str((int(resp.headers[CRC_HEADER]) + 1) % 2**64)
        if (d.reset or d.corrupt) and isinstance(resp, ObjectReply | ObjectStream):
            stream = ObjectStream.of_reply(resp) if isinstance(resp, ObjectReply) else resp
            if stream.with_body and stream.length == 0:
                if d.reset:
                    raise InjectedReset()
            elif stream.with_body:
                stream.writer = self._write_faulty
            return stream
        return resp

    async def _write_faulty(
        self, ctx: Ctx, resp: web.StreamResponse, plan: Plan, length: int
    ) -> None:
        """Send the body, flipping one byte (corrupt) and/or dropping the connection (reset)."""
        d: Decision = ctx.decision
        stop_at = int(length * d.reset_fraction) if d.reset else length
        flip_at = min(length - 1, int(length * d.corrupt_fraction)) if d.corrupt else -1
        if d.corrupt:
            self.stats.faults["corrupt"] += 1
        loop = asyncio.get_running_loop()
        sent = 0
        for f, offset, count in plan:
            done = 0
            while done < count:
                n = min(SEND_CHUNK, count - done)
                if isinstance(f, bytes):
                    chunk = f[offset + done : offset + done + n]
                else:
                    chunk = await loop.run_in_executor(
                        self.executor, os.pread, f.fileno(), n, offset + done
                    )
                if 0 <= flip_at - sent < len(chunk):
                    buf = bytearray(chunk)
                    buf[flip_at - sent] ^= 0xFF
                    chunk = bytes(buf)
                if sent + len(chunk) >= stop_at and d.reset:
                    await resp.write(chunk[: stop_at - sent])
                    raise InjectedReset()
                await resp.write(chunk)
                sent += len(chunk)
                done += len(chunk)
