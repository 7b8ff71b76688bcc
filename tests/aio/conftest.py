"""Fixtures of the async core tests: peer clients on the test bucket."""

from __future__ import annotations

from typing import Any

import oss2
import pytest


@pytest.fixture
def peer(creds: Any, bucket: str) -> oss2.Bucket:
    """oss2 on the same bucket: the judge of what we write."""
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)


@pytest.fixture
def v2client(creds: Any) -> Any:
    import alibabacloud_oss_v2 as ossv2

    cfg = ossv2.config.load_default()
    cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(
        creds.access_key_id, creds.access_key_secret, creds.security_token
    )
    cfg.region = creds.region
    cfg.endpoint = creds.endpoint
    cfg.use_path_style = True
    return ossv2.Client(cfg)
