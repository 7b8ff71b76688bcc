"""Shared fixtures: one local OSS server per test session (STS token required), fresh buckets.

    def test_x(oss_server, creds, bucket): ...

`creds` carries everything a client needs; `bucket` is a new empty bucket per
test. Fault rates and credentials a test changes on `oss_server` are restored
after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agentbay_oss.server import FaultConfig, LocalOssServer

ACCESS_KEY_ID = "LTAI5tLocalTestKeyId"
ACCESS_KEY_SECRET = "local-test-secret-do-not-log"
SECURITY_TOKEN = "CAIS-local-sts-token+/=="
REGION = "cn-hangzhou"


@dataclass(frozen=True)
class Creds:
    endpoint: str
    access_key_id: str
    access_key_secret: str
    security_token: str | None
    region: str

    def __repr__(self) -> str:  # secrets stay out of pytest output
        return f"Creds(endpoint={self.endpoint!r}, access_key_id={self.access_key_id!r}, region={self.region!r})"


@pytest.fixture(scope="session")
def oss_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOssServer]:
    srv = LocalOssServer(
        root=tmp_path_factory.mktemp("oss-root"),
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        security_token=SECURITY_TOKEN,
        region=REGION,
        buckets=(),
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _restore_oss_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """Undo fault rates and credential changes a test made on the shared server."""
    if "oss_server" not in request.fixturenames:
        yield
        return
    srv: LocalOssServer = request.getfixturevalue("oss_server")
    generation = srv.credentials_generation
    yield
    srv.faults = FaultConfig()
    if srv.credentials_generation != generation:
        srv.set_credentials(ACCESS_KEY_ID, ACCESS_KEY_SECRET, SECURITY_TOKEN, None)


@pytest.fixture
def creds(oss_server: LocalOssServer) -> Creds:
    return Creds(oss_server.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET, SECURITY_TOKEN, REGION)


@pytest.fixture
def bucket(oss_server: LocalOssServer) -> str:
    """A fresh, empty bucket on the shared server."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    oss_server.create_bucket(name)
    return name
