"""The fixtures work and oss2 can put and get (first line of defence for everyone else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import oss2

from agentbay_oss.server import LocalOssServer

if TYPE_CHECKING:
    from tests.conftest import Creds


def test_oss2_put_get(oss_server: LocalOssServer, creds: Creds, bucket: str) -> None:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    b = oss2.Bucket(auth, creds.endpoint, bucket)
    b.put_object("k", b"hello")
    assert b.get_object("k").read() == b"hello"
    assert [o.key for o in oss2.ObjectIterator(b)] == ["k"]
