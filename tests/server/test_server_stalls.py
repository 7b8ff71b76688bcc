"""Stalled clients (slowloris) are cut after the idle timeout; everyone else is served; a
thousand held connections do not stop normal traffic (agentbay_oss/server/idle.py)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
from server_testlib import error_code

from agentbay_oss.server import LocalOssServer

IDLE = 1.5  # seconds: long enough for the traffic below, short enough for a fast test


def _connect(endpoint: str) -> socket.socket:
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (monotonic)."""
    sock.settimeout(limit)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic()


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[LocalOssServer]:
    with LocalOssServer(root=tmp_path, public_buckets=("stall-pub",), idle_timeout=IDLE) as srv:
        yield srv


def test_stalled_header_and_body_are_cut_others_served(idle_server: LocalOssServer) -> None:
    srv = idle_server
    header = _connect(srv.endpoint)
    header.sendall(b"PUT /stall-pub/h HTTP/1.1\r\nHost: x\r\nContent-Le")  # and nothing more
    body = _connect(srv.endpoint)
    body.sendall(
        b"PUT /stall-pub/b HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500
    )
    started = time.monotonic()
    # Meanwhile, oss2 is served as usual, on its own connections.
    bucket = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "stall-pub")
    for i in range(5):
        bucket.put_object(f"ok/{i}", b"served %d" % i)
        assert bucket.get_object(f"ok/{i}").read() == b"served %d" % i
    assert time.monotonic() - started < IDLE, "the traffic took longer than the idle timeout"
    # The stalled header is closed without an answer, the stalled body answered RequestTimeout.
    got, closed = _read_until_closed(header, 10)
    assert got == b"" and closed - started >= IDLE * 0.9
    got, closed = _read_until_closed(body, 10)
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    assert error_code(got.split(b"\r\n\r\n", 1)[1]) == "RequestTimeout"
    assert IDLE * 0.9 <= closed - started < IDLE + 5
    header.close()
    body.close()
    # Nothing of the cut upload is visible; the server still answers.
    assert not bucket.object_exists("b") and not bucket.object_exists("h")
    assert [o.key for o in oss2.ObjectIterator(bucket)] == [f"ok/{i}" for i in range(5)]


def test_a_slow_client_that_keeps_sending_is_not_cut(idle_server: LocalOssServer) -> None:
    """The timeout is per silence, not per request: a body trickling in for longer than the
    timeout (a byte every IDLE/2 s) is stored; so is a keep-alive connection idle between
    requests for longer than the timeout (keep-alive's own timer governs that)."""
    sock = _connect(idle_server.endpoint)
    sock.sendall(b"PUT /stall-pub/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
    for byte in b"slow":
        time.sleep(IDLE / 2)
        sock.sendall(bytes([byte]))
    sock.settimeout(10)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    time.sleep(IDLE * 1.2)  # idle between requests, no bytes pending
    sock.sendall(b"GET /stall-pub/slow HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"slow"), answer
    sock.close()


def test_idle_timeout_none_never_cuts(tmp_path: Path) -> None:
    with LocalOssServer(root=tmp_path, public_buckets=("stall-pub",), idle_timeout=None) as srv:
        sock = _connect(srv.endpoint)
        sock.sendall(b"GET /stall-pub/x HTTP/1.1\r\nHost")
        sock.settimeout(IDLE * 1.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # still open, nothing sent
        sock.sendall(b": x\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 404 ")
        sock.close()


HELD = 1000


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(
            f"RLIMIT_NOFILE hard limit is {hard}: holding {HELD} connections needs {needed} "
            "descriptors in this process (and in the server's): NOT TESTED here"
        )
    if soft != resource.RLIM_INFINITY and soft < needed:
        # Unprivileged processes may raise their soft limit up to the hard one.
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed * 2), hard))


# `python -m agentbay_oss.server` started with the common default soft limit (512 here), which
# `serve` must raise by itself (to its hard limit) to hold the connections. A launcher, not
# preexec_fn: that forks a multi-threaded process (a DeprecationWarning on 3.12+).
LOW_LIMIT_SERVE = (
    "import resource, runpy, sys\n"
    "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))\n"
    "sys.argv[0] = 'agentbay_oss.server'\n"
    "runpy.run_module('agentbay_oss.server', run_name='__main__', alter_sys=True)\n"
)


def test_a_thousand_held_connections_do_not_stop_traffic(tmp_path: Path) -> None:
    needed = HELD + 200
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    _raise_nofile(needed)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "AGENTBAY_OSS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", LOW_LIMIT_SERVE, "--root", str(tmp_path), "--bucket", "held",
         "--access-key-id", "AK", "--access-key-secret", "SK", "--idle-timeout", "120"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    held: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().split()[2]
        # Half finished one keep-alive request and wait for the next; half are mid-header.
        for i in range(HELD):
            sock = _connect(endpoint)
            held.append(sock)
            if i % 2:
                sock.sendall(b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
            else:
                sock.sendall(b"GET /-/health HTTP/1.1\r\nHo")
        for sock in held[1::2]:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        bucket = oss2.Bucket(oss2.Auth("AK", "SK"), endpoint, "held")
        started = time.monotonic()
        for i in range(20):
            bucket.put_object(f"k{i}", os.urandom(4096))
            assert len(bucket.get_object(f"k{i}").read()) == 4096
        elapsed = time.monotonic() - started
        # Every held connection is still open and served when it goes on.
        for i, sock in enumerate(held):
            sock.sendall(
                b"st: x\r\n\r\n" if i % 2 == 0 else b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n"
            )
        for i, sock in enumerate(held):
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 "), i
        assert elapsed < 30, f"40 requests took {elapsed:.1f} s beside {HELD} held connections"
    finally:
        for sock in held:
            sock.close()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    assert proc.returncode == 0
