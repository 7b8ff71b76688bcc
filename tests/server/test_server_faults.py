"""Fault injection: each kind does what it says, counters add up, a fixed seed replays exactly."""

from __future__ import annotations

import os
from collections.abc import Callable
from http.client import IncompleteRead
from pathlib import Path
from typing import Any

import oss2
import pytest
import requests
from server_testlib import error_code, http, object_url

from agentbay_oss.protocol.crc64 import crc64
from agentbay_oss.server import FaultConfig, LocalOssServer


def _statuses(srv: LocalOssServer, n: int) -> list[int]:
    url = object_url(srv.endpoint, "pub", "obj")
    out = []
    for _ in range(n):
        try:
            out.append(http("GET", url)[0])
        except (ConnectionError, OSError, IncompleteRead):
            out.append(-1)  # dropped connection
    return out


def test_fixed_seed_is_reproducible(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        faults = FaultConfig(fail_rate=0.3, reset_rate=0.2, throttle_rate=0.1, seed=42)
        with LocalOssServer(
            root=tmp_path / str(i), buckets=(), public_buckets=("pub",), faults=faults
        ) as srv:
            srv.faults.fail_rate = 0.0  # setup requests must not fail, but still draw
            srv.faults.reset_rate = 0.0
            srv.faults.throttle_rate = 0.0
            assert (
                http("PUT", object_url(srv.endpoint, "pub", "obj"), os.urandom(64 * 1024))[0] == 200
            )
            srv.faults.fail_rate, srv.faults.reset_rate, srv.faults.throttle_rate = 0.3, 0.2, 0.1
            runs.append((_statuses(srv, 40), dict(srv.stats.faults)))
    assert runs[0] == runs[1]
    statuses = runs[0][0]
    assert 200 in statuses and 503 in statuses and -1 in statuses
    # A new seed at runtime restarts the sequence: seed 7 twice gives the same again.
    with LocalOssServer(root=tmp_path / "x", buckets=(), public_buckets=("pub",)) as srv:
        http("PUT", object_url(srv.endpoint, "pub", "obj"), b"x")
        srv.faults.fail_rate = 0.5
        srv.faults.seed = 7
        first = _statuses(srv, 20)
        srv.faults.seed = 7  # setting a seed, even the same one, restarts its sequence
        assert _statuses(srv, 20) == first


def test_fail_and_throttle(
    oss_server: LocalOssServer,
    sts_bucket_factory: Callable[..., oss2.Bucket],
    bucket: str,
    creds: Any,
) -> None:
    b = sts_bucket_factory(bucket)
    b.put_object("k", b"v")
    oss_server.faults.fail_rate = 1.0
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.get_object("k")
    assert exc.value.status == 503 and exc.value.code == "ServiceUnavailable"
    oss_server.faults.fail_rate = 0.0
    oss_server.faults.throttle_rate = 1.0
    oss_server.faults.throttle_delay_ms = 250
    status, headers, body = http("GET", object_url(creds.endpoint, bucket, "k"))
    assert (
        status == 503
        and headers["x-oss-qos-delay-time"] == "250"
        and error_code(body) == "ServiceUnavailable"
    )
    oss_server.faults.throttle_rate = 0.0
    assert b.get_object("k").read() == b"v"


def test_corrupt_body_and_bad_crc_are_detectable(
    oss_server: LocalOssServer,
    sts_bucket_factory: Callable[..., oss2.Bucket],
    bucket: str,
    tmp_path: Path,
) -> None:
    b = sts_bucket_factory(bucket)
    data = os.urandom(200 * 1024)
    b.put_object("k", data)
    oss_server.faults.corrupt_rate = 1.0
    raw = b.get_object(
        "k", headers={"x-oss-range-behavior": "standard"}, byte_range=(0, len(data) - 1)
    )
    body = raw.read()
    assert len(body) == len(data) and sum(x != y for x, y in zip(body, data, strict=True)) == 1
    assert int(raw.headers["x-oss-hash-crc64ecma"]) == crc64(data)  # headers unchanged
    with pytest.raises(oss2.exceptions.InconsistentError):
        b.get_object_to_file("k", str(tmp_path / "f"))  # oss2 checks the CRC of a whole-object GET
    oss_server.faults.corrupt_rate = 0.0
    oss_server.faults.bad_crc_rate = 1.0
    with pytest.raises(oss2.exceptions.InconsistentError):
        b.put_object("k2", b"payload")
    with pytest.raises(oss2.exceptions.InconsistentError):
        b.get_object_to_file("k", str(tmp_path / "f"))
    oss_server.faults.bad_crc_rate = 0.0
    assert b.get_object("k").read() == data
    assert oss_server.stats.faults["corrupt"] >= 2 and oss_server.stats.faults["bad_crc"] >= 2


def test_reset_mid_response_and_latency(
    oss_server: LocalOssServer, sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str
) -> None:
    b = sts_bucket_factory(bucket)
    data = os.urandom(512 * 1024)
    b.put_object("k", data)
    oss_server.faults.reset_rate = 1.0
    with pytest.raises((oss2.exceptions.RequestError, requests.exceptions.RequestException)):
        b.get_object("k").read()  # headers arrive, the body stops short
    oss_server.faults.reset_rate = 0.0
    oss_server.faults.latency_ms = 5
    assert b.get_object("k").read() == data


def test_stats_count_requests_and_body_bytes(
    oss_server: LocalOssServer, sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str
) -> None:
    b = sts_bucket_factory(bucket)
    before_bytes = oss_server.stats.bytes_received
    before_puts = oss_server.stats.requests["PutObject"]
    before_parts = oss_server.stats.requests["UploadPart"]
    b.put_object("a", b"x" * 1000)
    up = b.init_multipart_upload("m")
    b.upload_part("m", up.upload_id, 1, b"y" * 5000)
    b.abort_multipart_upload("m", up.upload_id)
    assert oss_server.stats.bytes_received - before_bytes == 6000
    assert oss_server.stats.requests["PutObject"] - before_puts == 1
    assert oss_server.stats.requests["UploadPart"] - before_parts == 1
    # A body answered with an injected 503 still counts: the client did send it.
    oss_server.faults.fail_rate = 1.0
    with pytest.raises(oss2.exceptions.ServerError):
        b.put_object("b", b"z" * 700)
    assert oss_server.stats.bytes_received - before_bytes == 6700


def test_fault_config_validation() -> None:
    with pytest.raises(ValueError):
        LocalOssServer(faults=FaultConfig(fail_rate=1.5))
    srv = LocalOssServer()
    with pytest.raises(ValueError):
        srv.faults = FaultConfig(latency_ms=-1)
