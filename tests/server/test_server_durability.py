"""Restart keeps every object; a dropped connection mid-PUT leaves nothing behind."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import oss2
from oss2.models import PartInfo

from agentbay_oss.protocol import signing
from agentbay_oss.server import LocalOssServer


def test_restart_keeps_objects_and_uploads(tmp_path: Path) -> None:
    root = tmp_path / "root"
    data = os.urandom(150 * 1024)
    with LocalOssServer(root=root, buckets=("keep",)) as srv:
        b = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "keep")
        put = b.put_object("normal", data, headers={"x-oss-meta-a": "1"})
        up = b.init_multipart_upload("multi")
        parts = [PartInfo(1, b.upload_part("multi", up.upload_id, 1, data).etag)]
        parts.append(PartInfo(2, b.upload_part("multi", up.upload_id, 2, b"tail").etag))
        multi = b.complete_multipart_upload("multi", up.upload_id, parts)
        b.copy_object("keep", "multi", "copied")
        pending = b.init_multipart_upload("pending")
        b.upload_part("pending", pending.upload_id, 1, b"part one")
        b.delete_object("normal-deleted")
        small = b.put_object("small", b"inline bytes", headers={"x-oss-meta-s": "2"})
        b.copy_object("keep", "small", "small-copy")
    with LocalOssServer(root=root, buckets=()) as srv:
        b = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "keep")
        got = b.get_object("normal")
        assert got.read() == data and got.etag == put.etag and got.headers["x-oss-meta-a"] == "1"
        assert b.get_object("multi").read() == data + b"tail"
        assert b.head_object("multi").etag == multi.etag
        assert b.get_object("copied").read() == data + b"tail"
        got = b.get_object("small")
        assert got.read() == b"inline bytes" and got.etag == small.etag
        assert got.headers["x-oss-meta-s"] == "2"
        assert b.get_object("small-copy").read() == b"inline bytes"
        keys = ["copied", "multi", "normal", "small", "small-copy"]
        assert [o.key for o in oss2.ObjectIterator(b)] == keys
        assert [p.size for p in b.list_parts("pending", pending.upload_id).parts] == [8]
        b.complete_multipart_upload(
            "pending", pending.upload_id, b.list_parts("pending", pending.upload_id).parts
        )
        assert b.get_object("pending").read() == b"part one"
        # Every blob on disk belongs to an object: overwrite and delete left no garbage.
        b.put_object("normal", b"smaller")
        b.delete_object("copied")
        b.delete_object("multi")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _blob_count(root) != 1:
            time.sleep(0.02)
        # Only the one part of "pending": "normal" now lives in its row (small objects have no
        # blob file), and the overwritten and deleted objects' blobs are gone.
        assert _blob_count(root) == 1
        assert b.get_object("normal").read() == b"smaller"


def _blob_count(root: Path) -> int:
    return sum(1 for p in (root / "blobs").rglob("*") if p.is_file())


def _signed_put_headers(creds: Any, bucket: str, key: str, length: int) -> bytes:
    c = signing.Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)
    headers: dict[str, str] = {"Content-Length": str(length)}
    signing.sign_v4(c, creds.region, "PUT", bucket, key, [], headers, datetime.now(timezone.utc))
    host = urlsplit(creds.endpoint).netloc
    lines = [f"PUT /{bucket}/{quote(key)} HTTP/1.1", f"Host: {host}"] + [
        f"{k}: {v}" for k, v in headers.items()
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _wait_until(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_dropped_connection_mid_put_leaves_no_object(
    oss_server: LocalOssServer,
    sts_bucket_factory: Callable[..., oss2.Bucket],
    bucket: str,
    creds: Any,
) -> None:
    b = sts_bucket_factory(bucket)
    b.put_object("existing", b"old content")
    assert oss_server.root is not None
    tmp_dir = oss_server.root / "tmp"
    before = oss_server.stats.requests["PutObject"]
    for key in ("fresh", "existing"):
        parts = urlsplit(creds.endpoint)
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            sock.sendall(_signed_put_headers(creds, bucket, key, 1024 * 1024))
            sock.sendall(os.urandom(300 * 1024))
            # Wait until the server is inside the body before hanging up.
            assert _wait_until(lambda: any(tmp_dir.iterdir()))
        assert _wait_until(lambda: not any(tmp_dir.iterdir())), "temp file left behind"
    assert oss_server.stats.requests["PutObject"] == before + 2
    assert not b.object_exists("fresh")
    assert b.get_object("existing").read() == b"old content"
    assert [o.key for o in oss2.ObjectIterator(b)] == ["existing"]


def test_injected_reset_on_put_leaves_no_object(
    oss_server: LocalOssServer, sts_bucket_factory: Callable[..., oss2.Bucket], bucket: str
) -> None:
    b = sts_bucket_factory(bucket)
    oss_server.faults.reset_rate = 1.0
    try:
        b.put_object("k", os.urandom(256 * 1024))
    except oss2.exceptions.RequestError:
        pass
    else:
        raise AssertionError("the connection should have dropped")
    oss_server.faults.reset_rate = 0.0
    assert not b.object_exists("k")
    assert oss_server.stats.faults["reset"] >= 1
