"""Shared fixtures: one local OSS server per test session (STS token required), fresh buckets.

    def test_x(oss_server, creds, bucket): ...

`creds` carries everything a client needs; `bucket` is a new empty bucket per
test. Fault rates and credentials a test changes on `oss_server` are restored
after it.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from agentbay_oss.server import FaultConfig, LocalOssServer

# The Ctrl-C tests send real SIGINTs, to this process and to child processes. A run started
# with SIGINT ignored (a background job of a non-interactive shell) would hand that on to them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
def _close_requests_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """oss2 and alibabacloud-oss-v2, the judges, pool connections in requests sessions they
    never close: closed when the test ends, so an unclosed socket warning left is our own."""
    sessions: list[requests.Session] = []
    init = requests.Session.__init__

    def tracked(self: requests.Session) -> None:
        init(self)
        sessions.append(self)

    monkeypatch.setattr(requests.Session, "__init__", tracked)
    yield
    for session in sessions:
        session.close()


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
