"""`serve` and `LocalOssServer`: one bucket-name rule (OSS's), credentials from flags or
environment, a hint when there is no bucket (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

import oss2
import pytest

from agentbay_oss.cli import main
from agentbay_oss.protocol import keys
from agentbay_oss.server import LocalOssServer
from agentbay_oss.server import buckets as server_buckets

NAMES = ["b", "ab", "abc", "my-bucket", "Bad_Name", "-abc", "abc-", "a" * 63, "a" * 64]


def _cli_accepts(name: str, capsys: pytest.CaptureFixture[str]) -> bool:
    """Whether `serve --bucket NAME` gets past its flags (--port -1 then stops it: exit 2)."""
    code = main(["serve", "--access-key-id", "A", "--access-key-secret", "S", "--bucket", name,
                 "--port", "-1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    return "argument --bucket" not in err


def _class_accepts(name: str) -> bool:
    try:
        LocalOssServer(buckets=(name,))
    except ValueError as exc:
        assert "3-63 characters" in str(exc)
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_serve_and_the_class_accept_the_same_bucket_names(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = bool(re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name))  # OSS's rule
    assert _cli_accepts(name, capsys) is expected
    assert _class_accepts(name) is expected


def test_create_bucket_and_put_bucket_follow_the_same_rule(tmp_path: Path) -> None:
    with LocalOssServer(root=tmp_path) as srv:
        with pytest.raises(ValueError, match="3-63"):
            srv.create_bucket("b")
        srv.create_bucket("bkt")
        # PutBucket answers InvalidBucketName by the very same pattern.
        assert server_buckets._BUCKET_NAME is keys.OSS_BUCKET_NAME
        auth = oss2.Auth("AK", "SK")
        oss2.Bucket(auth, srv.endpoint, "abc").create_bucket()
        names = [b.name for b in oss2.Service(auth, srv.endpoint).list_buckets().buckets]
        assert names == ["abc", "bkt"]


def test_serve_credentials_come_from_flags_or_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--help"]) == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "[--access-key-id AK] [--access-key-secret SK]" in usage
    assert "accepted access key id ($OSS_ACCESS_KEY_ID)" in usage
    # Half a pair is a usage error (checked after parsing, before serving); no pair at all
    # means a generated one (tests/server/test_serve_env.py).
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "A")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "--access-key-secret (or $OSS_ACCESS_KEY_SECRET)" in err
