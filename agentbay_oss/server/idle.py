"""Stalled clients (slowloris): a request header or body that stops arriving is cut.

aiohttp's connection handler has a keep-alive timer (for connections idle *between*
requests) and a lingering limit, but nothing for a client that sends half a header, or
half a body, and then goes quiet: each such connection would hold a socket and a task
forever. `IdleTimeoutHandler` watches the time of the last byte received and, once
`idle_timeout` seconds pass while the server is waiting on that client, cuts it:

- a header in progress (bytes of a request arrived, its header is not complete): the
  connection is closed, as nginx's client_header_timeout does;
- a body in progress (a handler is waiting for body bytes): the read fails with OSS's
  `400 RequestTimeout`, which the app answers and then closes the connection.

Time the server itself spends (a handler hashing, a slow download the client reads
slowly) never counts: only a wait for the client's bytes does. One timer per connection,
re-armed lazily (a received byte only stores a timestamp).

The watch relies on three aiohttp internals (the handler's `_waiter`, `_current_request`,
`_messages`, and a StreamReader's `_waiter`), read with getattr; the tests in
tests/server/test_server_stalls.py break if aiohttp changes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.web_protocol import RequestHandler

from .errors import OssError

DEFAULT_IDLE_TIMEOUT = 60.0  # seconds; nginx's default for client_header/body_timeout


def request_timeout(idle_timeout: float) -> OssError:
    return OssError(
        400,
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within the "
        f"timeout period ({idle_timeout:g} s without a byte of the request body).",
    )


class IdleTimeoutHandler(RequestHandler):
    """aiohttp's connection handler, cutting a client that stalls mid-request."""

    def __init__(self, *args: Any, idle_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_timeout = idle_timeout
        self._last_rx = 0.0
        self._header_started = False  # bytes of a next request arrived, no full header yet
        self._idle_handle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._idle_timeout is not None:
            self._last_rx = self._loop.time()
            self._idle_handle = self._loop.call_at(
                self._last_rx + self._idle_timeout, self._check_idle
            )

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        count = self._request_count
        super().data_received(data)
        if self._idle_timeout is None:
            return
        self._last_rx = self._loop.time()
        if self._request_count != count:
            self._header_started = False  # a whole header arrived (the rest is its body)
        elif getattr(self, "_current_request", None) is None and not getattr(self, "_messages", ()):
            self._header_started = True  # outside any request: the start of the next one

    def _check_idle(self) -> None:
        self._idle_handle = None
        timeout = self._idle_timeout
        if timeout is None or self.transport is None:
            return
        now = self._loop.time()
        due = self._last_rx + timeout
        if now >= due:
            due = now + timeout  # not stalled (or handled below): look again a timeout later
            if self._stalled_in_header():
                self.force_close()
                self.transport.close()
                return
            reader = self._stalled_body()
            if reader is not None:
                reader.set_exception(request_timeout(timeout))
        self._idle_handle = self._loop.call_at(due, self._check_idle)

    def _stalled_in_header(self) -> bool:
        waiter = getattr(self, "_waiter", None)  # the loop waits for the next request's header
        return self._header_started and waiter is not None and not waiter.done()

    def _stalled_body(self) -> Any:
        """The body stream a handler is blocked on (its buffer empty), or None."""
        request = getattr(self, "_current_request", None)
        if request is None:
            return None
        content = request.content
        if content.is_eof() or getattr(content, "_waiter", None) is None:
            return None
        return content
