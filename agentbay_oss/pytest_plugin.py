"""pytest fixtures for your own tests: a local OSS server, a fresh bucket, the credentials.

Registered through the `pytest11` entry point, so installing agentbay-oss makes them
available in every project; nothing happens until a test asks for one of them (no server
is started, no command-line option or ini key is added, and this module imports nothing
heavier than pytest already has: the server is imported inside the fixture).

    import oss2

    def test_roundtrip(oss_credentials, oss_bucket):
        c = oss_credentials
        bucket = oss2.Bucket(oss2.Auth(c.access_key_id, c.access_key_secret), c.endpoint, oss_bucket)
        bucket.put_object("hello.txt", b"hi")
        assert bucket.get_object("hello.txt").read() == b"hi"

- `oss_server` (session): a `LocalOssServer` on a free loopback port, data in a pytest temp
  dir, a generated key pair. A project's own fixture of that name (a session-scoped
  `LocalOssServer`, e.g. with an STS token) overrides it, and the other two fixtures then
  use that server: they only rely on `LocalOssServer.credentials`.
- `oss_bucket` (function): the name of a new, empty bucket on it, unique per test.
- `oss_credentials` (function): an `OssCredentials` (endpoint, access_key_id,
  access_key_secret, region, security_token, bucket; `.env()` gives the OSS_* variables for a
  subprocess). `bucket` is the test's `oss_bucket` when the test uses that fixture, else None.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import LocalOssServer
    from .server.credentials import OssCredentials


@pytest.fixture(scope="session")
def oss_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOssServer]:
    from .server import LocalOssServer
    from .server.credentials import generate_key_pair

    key_id, secret = generate_key_pair()
    server = LocalOssServer(
        root=tmp_path_factory.mktemp("agentbay-oss-server"),
        access_key_id=key_id,
        access_key_secret=secret,
    )
    with server:
        yield server


@pytest.fixture
def oss_bucket(oss_server: LocalOssServer) -> str:
    name = f"pytest-{uuid.uuid4().hex[:24]}"
    oss_server.create_bucket(name)
    return name


@pytest.fixture
def oss_credentials(oss_server: LocalOssServer, request: pytest.FixtureRequest) -> OssCredentials:
    credentials = oss_server.credentials
    if "oss_bucket" in request.fixturenames:
        credentials = credentials.with_bucket(request.getfixturevalue("oss_bucket"))
    return credentials
