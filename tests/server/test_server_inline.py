"""Small objects live in their metadata row (no blob file): same answers, same faults."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import oss2
import pytest
import requests
from oss2.models import PartInfo

from agentbay_oss.protocol.crc64 import crc64
from agentbay_oss.server import LocalOssServer
from agentbay_oss.server.storage import INLINE_MAX


def _blob_count(root: Path) -> int:
    return sum(1 for p in (root / "blobs").rglob("*") if p.is_file())


def test_inline_limit_ranges_copies_and_garbage(tmp_path: Path) -> None:
    root = tmp_path / "root"
    at_limit, above = os.urandom(INLINE_MAX), os.urandom(INLINE_MAX + 1)
    with LocalOssServer(root=root, buckets=("inl",)) as srv:
        b = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "inl")
        b.put_object("at-limit", at_limit)
        assert _blob_count(root) == 0
        b.put_object("above", above)
        assert _blob_count(root) == 1
        got = b.get_object("at-limit", byte_range=(10, 99))
        assert got.status == 206 and got.read() == at_limit[10:100]
        head = b.head_object("at-limit")
        assert head.content_length == INLINE_MAX
        assert head.server_crc == crc64(at_limit)
        # CopyObject of an inline object stays inline; UploadPartCopy reads its bytes.
        b.copy_object("inl", "at-limit", "copy")
        assert b.get_object("copy").read() == at_limit
        up = b.init_multipart_upload("assembled")
        part = b.upload_part_copy("inl", "at-limit", (10, 999), "assembled", up.upload_id, 1)
        b.complete_multipart_upload("assembled", up.upload_id, [PartInfo(1, part.etag)])
        assert b.get_object("assembled").read() == at_limit[10:1000]
        # Inline over file-backed and back: no blob left behind.
        b.put_object("above", b"now small")
        b.put_object("at-limit", above)
    with LocalOssServer(root=root, buckets=()) as srv:
        b = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "inl")
        assert b.get_object("above").read() == b"now small"
        assert b.get_object("at-limit").read() == above
        assert b.get_object("copy").read() == at_limit
        assert _blob_count(root) == 2  # "at-limit" and the one part of "assembled"


def test_inline_faults(
    oss_server: LocalOssServer, sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str
) -> None:
    b = sts_bucket_factory(bucket)
    data = os.urandom(8 * 1024)
    b.put_object("k", data)
    oss_server.faults.corrupt_rate = 1.0
    body = b.get_object("k", byte_range=(0, len(data) - 1)).read()
    assert len(body) == len(data) and sum(x != y for x, y in zip(body, data, strict=True)) == 1
    oss_server.faults.corrupt_rate = 0.0
    oss_server.faults.reset_rate = 1.0
    with pytest.raises((oss2.exceptions.RequestError, requests.exceptions.RequestException)):
        b.get_object("k").read()  # headers arrive, the body stops short
    with pytest.raises(oss2.exceptions.RequestError):
        b.put_object("dropped", os.urandom(8 * 1024))
    oss_server.faults.reset_rate = 0.0
    assert not b.object_exists("dropped")
    assert b.get_object("k").read() == data
