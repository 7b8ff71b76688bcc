"""Issue 14 at the CLI's edges: rm safety, empty prefixes, Ctrl-C reports, --json on failure,
closed pipes, exit codes, AGENTBAY_OSS_DEBUG and scheme-less endpoints. Real subprocesses
against the shared local server."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import oss2
import pytest

from agentbay_oss.cli import main
from agentbay_oss.server import FaultConfig, LocalOssServer
from tests.cli.test_cli import CLI, _env, _ok, cli, interrupt
from tests.conftest import Creds


def _peer(creds: Creds, bucket: str) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)


def _keys(creds: Creds, bucket: str) -> list[str]:
    return sorted(o.key for o in oss2.ObjectIterator(_peer(creds, bucket)))


def _fill(creds: Creds, bucket: str, *keys: str) -> None:
    peer = _peer(creds, bucket)
    for key in keys:
        peer.put_object(key, key.encode())


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentbay-oss: error: "), stderr
    return lines[0]


# ---------------------------------------------------------------------------- rm
def test_emptying_a_whole_bucket_needs_force_without_a_terminal(creds: Creds, bucket: str) -> None:
    _fill(creds, bucket, "a", "d/b")
    for url in (f"oss://{bucket}/", f"oss://{bucket}"):
        proc = cli("rm", "-r", url, creds=creds)  # stdin is not a terminal here
        assert proc.returncode == 2, proc.stderr
        assert "--force" in _one_error_line(proc.stderr)
        assert _keys(creds, bucket) == ["a", "d/b"]
    removed = _ok(cli("rm", "-r", "--force", f"oss://{bucket}/", creds=creds))
    assert removed.splitlines() == [f"deleted oss://{bucket}/a", f"deleted oss://{bucket}/d/b"]
    assert _keys(creds, bucket) == []


def _rm_on_a_terminal(creds: Creds, url: str, answer: bytes) -> subprocess.CompletedProcess[str]:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*CLI, "rm", "-r", url],
            env=_env(creds),
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, answer)  # typed ahead: the terminal keeps it until the prompt reads
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_emptying_a_whole_bucket_asks_on_a_terminal(creds: Creds, bucket: str) -> None:
    _fill(creds, bucket, "a", "b")
    declined = _rm_on_a_terminal(creds, f"oss://{bucket}/", b"no\n")
    assert declined.returncode == 1
    assert "Type 'yes'" in declined.stderr and "nothing was removed" in declined.stderr
    assert _keys(creds, bucket) == ["a", "b"]
    accepted = _rm_on_a_terminal(creds, f"oss://{bucket}/", b"yes\n")
    assert accepted.returncode == 0, accepted.stderr
    assert len(accepted.stdout.splitlines()) == 2
    assert _keys(creds, bucket) == []


def test_rm_of_nothing_says_so(creds: Creds, bucket: str) -> None:
    _fill(creds, bucket, "kept", "dir/x")
    missing = cli("rm", f"oss://{bucket}/no-such-key", creds=creds)
    assert missing.returncode == 1 and missing.stdout == ""
    assert f"no object oss://{bucket}/no-such-key" in _one_error_line(missing.stderr)
    assert "deleted" not in missing.stderr
    empty = cli("rm", "-r", f"oss://{bucket}/no-such-dir/", creds=creds)
    assert empty.returncode == 1
    assert f"no objects under oss://{bucket}/no-such-dir/" in _one_error_line(empty.stderr)
    # -f: nothing to remove is fine, as with rm -f.
    assert _ok(cli("rm", "-f", f"oss://{bucket}/no-such-key", creds=creds)).startswith("nothing")
    assert _keys(creds, bucket) == ["dir/x", "kept"]
    assert _ok(cli("rm", f"oss://{bucket}/kept", creds=creds)) == f"deleted oss://{bucket}/kept\n"


# ---------------------------------------------------------------------------- cp
def test_download_of_an_empty_prefix_is_an_error(creds: Creds, bucket: str, tmp_path: Path) -> None:
    _fill(creds, bucket, "site/index.html")
    out = tmp_path / "out"
    for prefix in ("typo/", ""):
        if prefix == "":
            _ok(cli("rm", "-rf", f"oss://{bucket}/", creds=creds))
        proc = cli("cp", "-r", f"oss://{bucket}/{prefix}", str(out), creds=creds)
        assert proc.returncode == 1 and proc.stdout == ""
        assert f"no objects under oss://{bucket}/{prefix}" in _one_error_line(proc.stderr)
        assert not out.exists()
    allowed = _ok(cli("cp", "-r", "--allow-empty", f"oss://{bucket}/typo/", str(out), creds=creds))
    assert allowed.startswith("Download success: 0 file(s)")
    assert out.is_dir() and list(out.iterdir()) == []


# ---------------------------------------------------------------------------- Ctrl-C
def _reported(stderr: str, verb: str) -> int:
    line = _one_error_line(stderr)
    match = re.search(
        rf"interrupted: (\d+) of (?:at least )?\d+ file\(s\) were already {verb}", line
    )
    assert match, line
    assert "rerunning the same command" in line
    return int(match.group(1))


def test_interrupted_directory_transfers_say_what_was_done(
    creds: Creds, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(12):
        (tree / f"f{i:02}.txt").write_text(f"file {i}")
    requests = oss_server.stats.requests
    oss_server.faults = FaultConfig(latency_ms=150)
    puts = requests["PutObject"]
    up = interrupt(
        ["cp", "-r", "--concurrency", "1", str(tree), f"oss://{bucket}/t"],
        creds,
        lambda: requests["PutObject"] >= puts + 3,
    )
    oss_server.faults = FaultConfig()
    assert up.returncode == 130, up.stderr
    uploaded = _reported(up.stderr, f"uploaded to oss://{bucket}/t")
    # What it reports is there (one more may have landed as the stop came).
    assert 1 <= uploaded <= len(_keys(creds, bucket)) <= uploaded + 1

    _ok(cli("cp", "-r", str(tree), f"oss://{bucket}/t", creds=creds))
    back = tmp_path / "back"
    oss_server.faults = FaultConfig(latency_ms=150)
    gets = requests["GetObject"]
    down = interrupt(
        ["cp", "-r", "--concurrency", "1", f"oss://{bucket}/t/", str(back)],
        creds,
        lambda: requests["GetObject"] >= gets + 3,
    )
    oss_server.faults = FaultConfig()
    assert down.returncode == 130, down.stderr
    downloaded = _reported(down.stderr, f"downloaded into {back}")
    assert 1 <= downloaded <= len(list(back.iterdir())) <= downloaded + 1


def test_missing_key_to_standard_output_names_the_object(
    creds: Creds, bucket: str, tmp_path: Path
) -> None:
    proc = cli("cp", f"oss://{bucket}/missing.txt", "-", creds=creds)
    assert proc.returncode == 1 and proc.stdout == ""
    line = _one_error_line(proc.stderr)
    # The user typed `-`: the message names the object, not an internal "writer".
    assert f"oss://{bucket}/missing.txt" in line and "NoSuchKey" in line
    assert "writer" not in line


# ---------------------------------------------------------------------------- --json
def test_json_failures_print_the_failed_result(creds: Creds, bucket: str, tmp_path: Path) -> None:
    proc = cli("cp", "--json", f"oss://{bucket}/missing.txt", str(tmp_path / "m"), creds=creds)
    assert proc.returncode == 1
    failed = json.loads(proc.stdout)
    assert failed["success"] is False and "NoSuchKey" in failed["error_message"]
    assert failed["files"] == 0
    assert "NoSuchKey" in _one_error_line(proc.stderr)

    wrong = _env(creds, OSS_ACCESS_KEY_SECRET="not-the-secret")
    listing = cli("ls", "--json", f"oss://{bucket}/", creds=creds, env=wrong)
    assert listing.returncode == 1
    assert json.loads(listing.stdout)["success"] is False
    _one_error_line(listing.stderr)

    # A failure found by the CLI itself: the same shape, and usage errors too.
    nothing = cli("rm", "--json", f"oss://{bucket}/nope", creds=creds)
    assert nothing.returncode == 1
    assert json.loads(nothing.stdout)["success"] is False
    usage = cli("cp", "--json", str(tmp_path), f"oss://{bucket}/d", creds=creds)
    assert usage.returncode == 2
    assert "use -r" in json.loads(usage.stdout)["error_message"]


# ---------------------------------------------------------------------------- pipes
def test_a_closed_stdout_ends_quietly(creds: Creds, bucket: str) -> None:
    _fill(creds, bucket, *(f"k{i:03}" for i in range(50)))
    for extra in ([], ["--json"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written, as after `head`
        try:
            proc = subprocess.run(
                [*CLI, "ls", *extra, f"oss://{bucket}/"],
                env=_env(creds),
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        finally:
            os.close(write_end)
        assert proc.stderr == ""
        assert proc.returncode == 141  # what a shell reports for a tool killed by SIGPIPE


def test_ls_into_head(creds: Creds, bucket: str) -> None:
    _fill(creds, bucket, *(f"k{i:04}" for i in range(1500)))  # more than a pipe buffer holds
    script = f'{" ".join(CLI)} ls oss://{bucket}/ | head -n 2; echo "status ${{PIPESTATUS[0]}}"'
    proc = subprocess.run(
        ["bash", "-c", script], env=_env(creds), capture_output=True, text=True, timeout=120
    )
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[-1] == "status 141"
    assert len(proc.stdout.splitlines()) == 3


# ---------------------------------------------------------------------------- exit codes
@pytest.mark.parametrize(
    "args",
    [
        ["cp", "--part-size", "1", "SRC", "oss://b/k"],
        ["cp", "--part-size", "lots", "SRC", "oss://b/k"],
        ["cp", "--multipart-threshold", "6GiB", "SRC", "oss://b/k"],
        ["cp", "--concurrency", "0", "SRC", "oss://b/k"],
        ["cp", "--concurrency", "many", "SRC", "oss://b/k"],
        ["presign", "--expires", "0", "oss://b/k"],
        ["presign", "--expires", "999999999", "oss://b/k"],
        ["presign", "--method", "POST", "oss://b/k"],
        ["demo", "--big-mib", "-1"],
        ["ls", "--no-such-flag", "oss://b/"],
    ],
)
def test_bad_flag_values_are_usage_errors(
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "SK")
    monkeypatch.setenv("OSS_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OSS_REGION", "cn-hangzhou")
    src = tmp_path / "f.txt"
    src.write_text("x")
    assert main([str(src) if a == "SRC" else a for a in args]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out == ""


def test_debug_shows_the_traceback(creds: Creds, bucket: str, tmp_path: Path) -> None:
    args = ("cp", f"oss://{bucket}/missing.txt", str(tmp_path / "m"))
    for value, shown in (("1", True), ("0", False), ("", False)):
        proc = cli(*args, creds=creds, env=_env(creds, AGENTBAY_OSS_DEBUG=value))
        assert proc.returncode == 1
        assert ("Traceback (most recent call last)" in proc.stderr) is shown, proc.stderr
        assert ("NotFoundError" in proc.stderr) is shown
        assert proc.stderr.splitlines()[-1].startswith("agentbay-oss: error: ")


def test_an_endpoint_without_scheme_gets_a_hint(creds: Creds, bucket: str) -> None:
    host_port = creds.endpoint.removeprefix("http://")
    port = host_port.rsplit(":", 1)[1]
    for endpoint in (host_port, f"localhost:{port}"):
        proc = cli("ls", "--endpoint", endpoint, f"oss://{bucket}/", creds=creds)
        assert proc.returncode == 1
        line = _one_error_line(proc.stderr)
        assert f"--endpoint http://{endpoint}" in line and "has no scheme" in line
    # A scheme given: no such hint, even when connecting fails.
    refused = cli("ls", "--endpoint", "http://127.0.0.1:1", f"oss://{bucket}/", creds=creds)
    assert refused.returncode == 1 and "no scheme" not in refused.stderr
