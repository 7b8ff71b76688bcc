"""`serve` configured by the environment alone, its ready line, and `GET /-/health`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import oss2
import pytest
from server_testlib import http

from agentbay_oss.server import LocalOssServer
from agentbay_oss.server.cli import add_serve_arguments, apply_environment

BASE = [sys.executable, "-m", "agentbay_oss.server"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "AGENTBAY_OSS_"))}
    return {**env, **extra}


def _ready(proc: subprocess.Popen[str]) -> tuple[str, dict[str, str]]:
    """(endpoint, the variables) from `listening on URL K=V ...`."""
    assert proc.stdout is not None
    words = shlex.split(proc.stdout.readline())
    assert words[:2] == ["listening", "on"], words
    return words[2], dict(w.split("=", 1) for w in words[3:])


def test_environment_only_generated_keys_and_health(tmp_path: Path) -> None:
    env = _clean_env(
        AGENTBAY_OSS_SERVE_ROOT=str(tmp_path / "root"),
        AGENTBAY_OSS_SERVE_PORT="0",
        AGENTBAY_OSS_SERVE_BUCKETS="env-one, env-two",
        AGENTBAY_OSS_SERVE_IDLE_TIMEOUT="5",
        OSS_REGION="cn-shanghai",
    )
    proc = subprocess.Popen(
        BASE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        endpoint, v = _ready(proc)
        assert v["OSS_ENDPOINT"] == endpoint and endpoint.startswith("http://127.0.0.1:")
        assert v["OSS_REGION"] == "cn-shanghai" and "OSS_SESSION_TOKEN" not in v
        ak, sk = v["OSS_ACCESS_KEY_ID"], v["OSS_ACCESS_KEY_SECRET"]
        assert ak.startswith("LTAI") and len(sk) >= 24  # generated: none was given
        # The printed pair is the one accepted, with V4 signatures in the printed region.
        auth = oss2.AuthV4(ak, sk)
        b = oss2.Bucket(auth, endpoint, "env-one", region="cn-shanghai")
        b.put_object("k", b"from the environment")
        assert b.get_object("k").read() == b"from the environment"
        names = [
            x.name
            for x in oss2.Service(auth, endpoint, region="cn-shanghai").list_buckets().buckets
        ]
        assert names == ["env-one", "env-two"]
        with pytest.raises(oss2.exceptions.AccessDenied):  # anything else is refused
            oss2.Bucket(oss2.AnonymousAuth(), endpoint, "env-one").get_object("k")
        # Health: no credentials, small JSON; HEAD too; other methods are OSS requests.
        status, headers, body = http("GET", f"{endpoint}/-/health")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        health = json.loads(body)
        assert health["status"] == "ok" and health["buckets"] == 2 and len(body) < 200
        assert http("HEAD", f"{endpoint}/-/health")[0] == 200
        assert http("PUT", f"{endpoint}/-/health", b"x")[0] != 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == ""
    assert sk not in err  # printed once on stdout, as asked; never logged


def test_given_secret_is_printed_back_and_token_too(tmp_path: Path) -> None:
    env = _clean_env(OSS_ACCESS_KEY_ID="ENVAK", OSS_ACCESS_KEY_SECRET="ENV SK'quoted",
                     OSS_SECURITY_TOKEN="ENVTOKEN", AGENTBAY_OSS_SERVE_PUBLIC_BUCKETS="env-pub")  # fmt: skip
    proc = subprocess.Popen(
        [*BASE, "--root", str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        endpoint, v = _ready(proc)
        assert (v["OSS_ACCESS_KEY_ID"], v["OSS_ACCESS_KEY_SECRET"]) == ("ENVAK", "ENV SK'quoted")
        assert v["OSS_SESSION_TOKEN"] == "ENVTOKEN"  # the name the CLI reads first
        auth = oss2.StsAuth("ENVAK", "ENV SK'quoted", "ENVTOKEN")
        oss2.Bucket(auth, endpoint, "env-pub").put_object("k", b"v")
        assert oss2.Bucket(oss2.AnonymousAuth(), endpoint, "env-pub").get_object("k").read() == b"v"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def _parse(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    apply_environment(args, parser, environ)
    return args


def test_a_flag_beats_its_variable_and_defaults_fill_the_rest() -> None:
    env = {"AGENTBAY_OSS_SERVE_BUCKETS": "from-env", "AGENTBAY_OSS_SERVE_PORT": "9123",
           "AGENTBAY_OSS_SERVE_ACCESS_LOG": "yes", "AGENTBAY_OSS_SERVE_FAIL_RATE": "0.25"}  # fmt: skip
    args = _parse(["--bucket", "from-flag", "--port", "0"], env)
    assert args.buckets == ["from-flag"] and args.port == 0
    assert args.access_log is True and args.fail_rate == 0.25
    assert (args.host, args.region, args.idle_timeout, args.public_buckets) == (
        "127.0.0.1", "cn-hangzhou", 60.0, [],
    )  # fmt: skip
    assert _parse([], env).buckets == ["from-env"] and _parse([], env).port == 9123


@pytest.mark.parametrize(
    "name,value",
    [
        ("AGENTBAY_OSS_SERVE_PORT", "http"),
        ("AGENTBAY_OSS_SERVE_BUCKETS", "ok-name,Bad_Name"),
        ("AGENTBAY_OSS_SERVE_IDLE_TIMEOUT", "-1"),
        ("AGENTBAY_OSS_SERVE_ACCESS_LOG", "maybe"),
    ],
)
def test_a_bad_variable_is_a_usage_error_naming_it(
    name: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse([], {name: value})
    assert exc.value.code == 2 and f"${name}" in capsys.readouterr().err


def test_health_needs_no_credentials_on_an_sts_server(oss_server: LocalOssServer) -> None:
    before = dict(oss_server.stats.requests)
    status, _, body = http("GET", f"{oss_server.endpoint}/-/health?probe=1")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert dict(oss_server.stats.requests) == before  # not counted as an OSS operation
