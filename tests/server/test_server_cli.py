"""`python -m agentbay_oss.server`: one ready line, serves the official clients, clear flag errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from server_testlib import http, make_v2_client

BASE = [sys.executable, "-m", "agentbay_oss.server"]


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(BASE + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:"), (
        line,
        proc.stderr.read() if proc.poll() is not None else "",
    )
    return proc, line.split()[2]  # `listening on URL VAR=... ...`


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    root = tmp_path / "data"
    proc, endpoint = _start(
        ["--root", str(root), "--access-key-id", "CLIAK", "--access-key-secret", "CLISK",
         "--security-token", "CLITOKEN", "--bucket", "cli-bkt", "--public-bucket", "cli-pub", "--port", "0"]
    )  # fmt: skip
    try:
        yield proc, endpoint, root
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes the pipes


def test_serve_both_clients_then_restart(served: tuple[subprocess.Popen[str], str, Path]) -> None:
    proc, endpoint, root = served
    b = oss2.Bucket(
        oss2.StsAuth("CLIAK", "CLISK", "CLITOKEN", auth_version="v4"),
        endpoint,
        "cli-bkt",
        region="cn-hangzhou",
    )
    b.put_object("k", b"from oss2")
    c = make_v2_client(endpoint, "CLIAK", "CLISK", "CLITOKEN", "v4")
    assert c.get_object(v2.GetObjectRequest(bucket="cli-bkt", key="k")).body.read() == b"from oss2"
    anon = oss2.Bucket(oss2.AnonymousAuth(), endpoint, "cli-pub")
    anon.put_object("a", b"anon")
    code, out, err = _stop(proc)
    assert code == 0 and out == "", (out, err)
    assert "CLISK" not in err and "CLITOKEN" not in err
    proc2, endpoint2 = _start(
        ["--root", str(root), "--access-key-id", "CLIAK", "--access-key-secret", "CLISK"]
    )
    try:
        plain = oss2.Bucket(oss2.Auth("CLIAK", "CLISK"), endpoint2, "cli-bkt")
        assert plain.get_object("k").read() == b"from oss2"
    finally:
        assert _stop(proc2)[0] == 0


def test_faults_from_flags_and_access_log(tmp_path: Path) -> None:
    proc, endpoint = _start(
        ["--root", str(tmp_path), "--access-key-id", "A", "--access-key-secret", "S", "--public-bucket", "pub",
         "--fail-rate", "1", "--seed", "3", "--latency-ms", "1", "--access-log"]
    )  # fmt: skip
    try:
        anon = oss2.Bucket(oss2.AnonymousAuth(), endpoint, "pub")
        with pytest.raises(oss2.exceptions.ServerError) as exc:
            anon.get_object("x")
        assert exc.value.status == 503
        signed = oss2.Bucket(oss2.StsAuth("A", "S", "SECRET-TOKEN"), endpoint, "pub")
        assert (
            http("GET", signed.sign_url("GET", "y", 60))[0] == 503
        )  # token and signature in the query
    finally:
        code, _, err = _stop(proc)
        assert code == 0
    assert "GetObject GET /pub/x -> 503" in err
    assert "GetObject GET /pub/y -> 503" in err
    assert "SECRET-TOKEN" not in err and "Signature" not in err


def test_secret_from_environment(tmp_path: Path) -> None:
    env = {**os.environ, "OSS_ACCESS_KEY_ID": "ENVAK", "OSS_ACCESS_KEY_SECRET": "ENVSK"}
    proc = subprocess.Popen(
        [*BASE, "--root", str(tmp_path), "--bucket", "env-bkt"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().split()[2]
        oss2.Bucket(oss2.Auth("ENVAK", "ENVSK"), endpoint, "env-bkt").put_object("k", b"v")
    finally:
        assert _stop(proc)[0] == 0


def test_host_suffix_flag_serves_virtual_hosted_requests(tmp_path: Path) -> None:
    proc, endpoint = _start(
        ["--root", str(tmp_path), "--access-key-id", "A", "--access-key-secret", "S",
         "--public-bucket", "vh-pub", "--host-suffix", "oss-cli.localhost"]
    )  # fmt: skip
    try:
        port = endpoint.rsplit(":", 1)[1]
        host = {"Host": f"vh-pub.oss-cli.localhost:{port}"}
        assert http("PUT", f"{endpoint}/dir/k", b"virtual", host)[0] == 200
        assert http("GET", f"{endpoint}/vh-pub/dir/k")[2] == b"virtual"  # path style too
        assert http("GET", f"{endpoint}/dir/k", headers=host)[2] == b"virtual"
    finally:
        assert _stop(proc)[0] == 0


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--access-key-secret", "S"], "--access-key-id"),
        (["--access-key-id", "A"], "--access-key-secret"),
        (["--access-key-id", "A", "--access-key-secret", "S", "--fail-rate", "1.5"], "--fail-rate"),
        (["--access-key-id", "A", "--access-key-secret", "S", "--port", "70000"], "--port"),
        (["--access-key-id", "A", "--access-key-secret", "S", "--bucket", "Bad_Name"], "--bucket"),
        (
            ["--access-key-id", "A", "--access-key-secret", "S", "--latency-ms", "-3"],
            "--latency-ms",
        ),
        (["--access-key-id", "A", "--access-key-secret", "S", "--no-such-flag"], "unrecognized"),
    ],
)
def test_bad_flags_exit_2(
    args: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentbay_oss.server.__main__ import main

    for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and needle in err and out == ""


def test_bad_flag_exit_code_of_the_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSS_")}
    result = subprocess.run(
        [*BASE, "--access-key-id", "A"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2 and "--access-key-secret" in result.stderr and result.stdout == ""


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    proc, endpoint = _start(
        ["--root", str(tmp_path / "a"), "--access-key-id", "A", "--access-key-secret", "S"]
    )
    try:
        port = endpoint.rsplit(":", 1)[1]
        result = subprocess.run(
            [*BASE, "--root", str(tmp_path / "b"), "--access-key-id", "A", "--access-key-secret", "S", "--port", port],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1 and "cannot serve" in result.stderr and result.stdout == ""
    finally:
        _stop(proc)
