"""One Dask LocalCluster (3 worker processes) per module, and oss2 as the judge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import oss2
import pytest
from distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Client]:
    # Worker processes reach the test server over 127.0.0.1, as remote machines would.
    cluster = LocalCluster(
        n_workers=3, processes=True, threads_per_worker=1, dashboard_address=":0"
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def peer(creds: Any, bucket: str) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)
