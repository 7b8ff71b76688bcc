"""The S3 dialect judged by rclone (Go, aws-sdk-go): a tree copied in and out with checksums.

rclone is configured by environment variables only (no config file in $HOME), with the
S3 backend's "Other" provider: its "Alibaba" provider forces virtual-hosted addressing,
which needs DNS names for buckets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import oss2
import pytest
from server_testlib import PLAIN_AK, PLAIN_SK

from agentbay_oss.server import LocalOssServer

RCLONE = shutil.which("rclone")
# scripts/_env.sh installs Debian's rclone when it can: in CI a missing rclone is a failure,
# not a skip; elsewhere (a laptop without it) the skip says why.
pytestmark = pytest.mark.skipif(
    RCLONE is None and not os.environ.get("CI"), reason="rclone is not installed"
)


def rclone(endpoint: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The machine's AWS_* variables (a CA bundle, profiles) would reach rclone's AWS SDK.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG=str(tmp / "absent.conf"),
        RCLONE_CONFIG_LOCAL_TYPE="s3",
        RCLONE_CONFIG_LOCAL_PROVIDER="Other",
        RCLONE_CONFIG_LOCAL_ACCESS_KEY_ID=PLAIN_AK,
        RCLONE_CONFIG_LOCAL_SECRET_ACCESS_KEY=PLAIN_SK,
        RCLONE_CONFIG_LOCAL_ENDPOINT=endpoint,
        RCLONE_CONFIG_LOCAL_REGION="us-east-1",
        RCLONE_CONFIG_LOCAL_FORCE_PATH_STYLE="true",
    )
    assert RCLONE is not None
    return subprocess.run(
        [RCLONE, *args, "--low-level-retries", "1", "--retries", "1"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _tree(root: Path) -> None:
    (root / "deep" / "er").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello")
    (root / "empty").write_bytes(b"")
    (root / "deep" / "ü x+y (1).bin").write_bytes(os.urandom(1000))
    (root / "deep" / "er" / "big.bin").write_bytes(os.urandom(11 * 1024 * 1024 + 7))
    for i in range(20):
        (root / "deep" / "er" / f"small-{i:02d}").write_bytes(os.urandom(i * 97))


def test_rclone_copies_a_tree_in_and_out(plain_server: LocalOssServer, tmp_path: Path) -> None:
    bucket = f"rc-{uuid.uuid4().hex[:12]}"
    plain_server.create_bucket(bucket)
    src, back = tmp_path / "src", tmp_path / "back"
    _tree(src)
    remote = f"local:{bucket}/tree"
    up = rclone(
        plain_server.endpoint, tmp_path, "copy", str(src), remote, "--checksum",
        "--s3-upload-cutoff", "1M", "--s3-chunk-size", "5M", "--transfers", "4",
        "--s3-upload-concurrency", "4",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr[-2000:]
    checked = rclone(plain_server.endpoint, tmp_path, "check", str(src), remote)
    assert checked.returncode == 0, checked.stderr[-2000:]
    # The same bytes through the OSS dialect; the big file went multipart (3 parts of 5 MiB).
    oss = oss2.Bucket(oss2.Auth(PLAIN_AK, PLAIN_SK), plain_server.endpoint, bucket)
    big = oss.get_object("tree/deep/er/big.bin")
    assert big.read() == (src / "deep" / "er" / "big.bin").read_bytes()
    assert big.headers["ETag"].endswith('-3"')
    assert (
        oss.get_object("tree/deep/ü x+y (1).bin").read()
        == (src / "deep" / "ü x+y (1).bin").read_bytes()
    )
    down = rclone(
        plain_server.endpoint, tmp_path, "copy", remote, str(back), "--checksum", "--transfers", "4"
    )
    assert down.returncode == 0, down.stderr[-2000:]
    files = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(back) for p in back.rglob("*") if p.is_file())
    assert all((src / f).read_bytes() == (back / f).read_bytes() for f in files)
    # A changed object is a difference rclone's check reports (it compares MD5 ETags).
    oss.put_object("tree/a.txt", b"HELLO")
    changed = rclone(plain_server.endpoint, tmp_path, "check", str(src), remote)
    assert changed.returncode != 0 and "a.txt" in changed.stderr
