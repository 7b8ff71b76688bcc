"""fsspec's own filesystem test suite (`fsspec.tests.abstract`), unchanged, on the local server.

As s3fs and gcsfs run it: subclass `AbstractFixtures` with our `fs` and `fs_path` (a fresh
bucket per test), then each `Abstract*Tests` class.
"""

from __future__ import annotations

import pytest
from fsspec.tests import abstract

from agentbay_oss.fsspec import OssFileSystem


class OssFixtures(abstract.AbstractFixtures):
    @pytest.fixture
    def fs(self, ossfs: OssFileSystem) -> OssFileSystem:
        return ossfs

    @pytest.fixture
    def fs_path(self, bucket: str) -> str:
        return bucket

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True  # mkdir writes a `dir/` marker, as OSS's console does


class TestOssCopy(abstract.AbstractCopyTests, OssFixtures):
    pass


class TestOssGet(abstract.AbstractGetTests, OssFixtures):
    pass


class TestOssPut(abstract.AbstractPutTests, OssFixtures):
    pass


class TestOssOpen(abstract.AbstractOpenTests, OssFixtures):
    pass


class TestOssPipe(abstract.AbstractPipeTests, OssFixtures):
    pass


def test_suite_classes_are_all_collected() -> None:
    """Every Abstract*Tests class fsspec ships is run above (a new one fails this test)."""
    shipped = {n for n in dir(abstract) if n.startswith("Abstract") and n.endswith("Tests")}
    ran = {
        b.__name__
        for c in (TestOssCopy, TestOssGet, TestOssPut, TestOssOpen, TestOssPipe)
        for b in c.__bases__
    }
    assert shipped <= ran, shipped - ran
