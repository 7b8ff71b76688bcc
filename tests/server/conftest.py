"""Fixtures for the server conformance tests: a second server without STS, client factories."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from server_testlib import PLAIN_AK, PLAIN_SK, make_v2_client

from agentbay_oss.server import LocalOssServer


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOssServer]:
    """A server taking long-term keys (no STS token), with one public bucket."""
    srv = LocalOssServer(
        root=tmp_path_factory.mktemp("oss-plain"),
        access_key_id=PLAIN_AK,
        access_key_secret=PLAIN_SK,
        buckets=(),
        public_buckets=("public-bkt",),
    )
    srv.start()
    yield srv
    srv.stop()


# Four ways oss2 signs: V1 and V4, with long-term keys or an STS token.
OSS2_AUTHS = ["v1", "v4", "sts-v1", "sts-v4"]


@pytest.fixture(params=OSS2_AUTHS)
def oss2_bucket(
    request: pytest.FixtureRequest,
    oss_server: LocalOssServer,
    plain_server: LocalOssServer,
    creds: Any,
) -> oss2.Bucket:
    """An oss2.Bucket on a fresh bucket, for each signing variant."""
    variant: str = request.param
    name = f"o2-{uuid.uuid4().hex[:12]}"
    auth: Any
    if variant.startswith("sts"):
        version = variant.split("-")[1]
        auth = oss2.StsAuth(
            creds.access_key_id, creds.access_key_secret, creds.security_token, auth_version=version
        )
        srv = oss_server
    else:
        auth = oss2.AuthV4(PLAIN_AK, PLAIN_SK) if variant == "v4" else oss2.Auth(PLAIN_AK, PLAIN_SK)
        srv = plain_server
    srv.create_bucket(name)
    return oss2.Bucket(auth, srv.endpoint, name, region=creds.region)


V2_VARIANTS = ["v4", "v1", "sts-v4", "sts-v1"]


@pytest.fixture(params=V2_VARIANTS)
def v2_env(
    request: pytest.FixtureRequest,
    oss_server: LocalOssServer,
    plain_server: LocalOssServer,
    creds: Any,
) -> tuple[v2.Client, str]:
    """(alibabacloud-oss-v2 client, fresh bucket name) for each signing variant."""

    variant: str = request.param
    name = f"v2-{uuid.uuid4().hex[:12]}"
    if variant.startswith("sts"):
        oss_server.create_bucket(name)
        client = make_v2_client(
            oss_server.endpoint,
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            variant.split("-")[1],
        )
    else:
        plain_server.create_bucket(name)
        client = make_v2_client(plain_server.endpoint, PLAIN_AK, PLAIN_SK, None, variant)
    return client, name


@pytest.fixture
def sts_bucket_factory(oss_server: LocalOssServer, creds: Any) -> Callable[..., oss2.Bucket]:
    """oss2 buckets on the STS server with arbitrary (possibly wrong) credentials."""
    same = object()

    def make(
        bucket: str, ak: Any = same, sk: Any = same, token: Any = same, version: str = "v1"
    ) -> oss2.Bucket:
        ak = creds.access_key_id if ak is same else ak
        sk = creds.access_key_secret if sk is same else sk
        token = creds.security_token if token is same else token
        auth: Any
        if token is None:
            auth = oss2.AuthV4(ak, sk) if version == "v4" else oss2.Auth(ak, sk)
        else:
            auth = oss2.StsAuth(ak, sk, token, auth_version=version)
        return oss2.Bucket(auth, oss_server.endpoint, bucket, region=creds.region)

    return make
