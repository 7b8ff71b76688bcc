"""Fixtures of the fsspec filesystem tests: an `OssFileSystem` on the shared local server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import oss2
import pytest

from agentbay_oss.fsspec import OssFileSystem


@pytest.fixture
def storage_options(creds: Any) -> dict[str, Any]:
    """What a user passes as `storage_options` (ossfs's option names)."""
    return {
        "endpoint": creds.endpoint,
        "key": creds.access_key_id,
        "secret": creds.access_key_secret,
        "token": creds.security_token,
        "region": creds.region,
    }


@pytest.fixture
def ossfs(storage_options: dict[str, Any]) -> Iterator[OssFileSystem]:
    fs = OssFileSystem(**storage_options)
    fs.invalidate_cache()
    yield fs
    fs.invalidate_cache()


@pytest.fixture
def peer(creds: Any, bucket: str) -> oss2.Bucket:
    """oss2 on the same bucket: the judge of what the filesystem wrote."""
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)
