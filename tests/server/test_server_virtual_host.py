"""Virtual-hosted addressing: the bucket in the Host header (`bucket.SUFFIX`), as oss2 and
alibabacloud-oss-v2 send every request for an endpoint that is not an IP address.

The clients resolve `*.oss-test.localhost` through `socket.getaddrinfo`, which the
`loopback` fixture answers with 127.0.0.1 for those names only (no DNS, no /etc/hosts).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from oss2.models import PartInfo
from server_testlib import PLAIN_AK, PLAIN_SK, http, make_v2_client

from agentbay_oss.protocol import signing
from agentbay_oss.server import LocalOssServer

SUFFIX = "oss-test.localhost"


@pytest.fixture(scope="module")
def vhost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOssServer]:
    srv = LocalOssServer(
        root=tmp_path_factory.mktemp("oss-vhost"),
        access_key_id=PLAIN_AK,
        access_key_secret=PLAIN_SK,
        buckets=(),
        host_suffix=SUFFIX,
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names under SUFFIX resolve to 127.0.0.1 in this process; every other name as usual."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and (host == SUFFIX or host.endswith("." + SUFFIX)):
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def _name() -> str:
    return f"vh-{uuid.uuid4().hex[:12]}"


def test_the_names_do_not_resolve_without_the_fixture() -> None:
    """Else the test would not show that the clients went through our resolver."""
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(f"b.{SUFFIX}", 80)


@pytest.mark.usefixtures("loopback")
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_virtual_hosted(vhost_server: LocalOssServer, version: str) -> None:
    endpoint = vhost_server.virtual_hosted_endpoint
    assert endpoint == f"http://{SUFFIX}:{vhost_server.port}"
    auth: Any = (
        oss2.AuthV4(PLAIN_AK, PLAIN_SK) if version == "v4" else oss2.Auth(PLAIN_AK, PLAIN_SK)
    )
    name = _name()
    b = oss2.Bucket(auth, endpoint, name, region="cn-hangzhou")
    assert b._make_url(name, "k").startswith(f"http://{name}.{SUFFIX}:")  # as oss2 sends it
    b.create_bucket()
    service = oss2.Service(auth, endpoint, region="cn-hangzhou")
    assert name in [x.name for x in oss2.BucketIterator(service)]
    data = os.urandom(3000)
    put = b.put_object("dir/a b+c", data, headers={"x-oss-meta-k": "v"})
    got = b.get_object("dir/a b+c")
    assert got.read() == data and got.headers["x-oss-meta-k"] == "v"
    assert b.get_object("dir/a b+c", byte_range=(10, 19)).read() == data[10:20]
    assert b.head_object("dir/a b+c").etag == put.etag
    b.put_object("top", b"x")
    listed = [o.key for o in oss2.ObjectIterator(b, delimiter="/")]
    assert listed == ["dir/", "top"]
    assert [o.key for o in oss2.ObjectIteratorV2(b, prefix="dir/")] == ["dir/a b+c"]
    up = b.init_multipart_upload("mp")
    p1 = b.upload_part("mp", up.upload_id, 1, os.urandom(100 * 1024))
    p2 = b.upload_part_copy(name, "dir/a b+c", (0, 99), "mp", up.upload_id, 2)
    assert [p.part_number for p in b.list_parts("mp", up.upload_id).parts] == [1, 2]
    b.complete_multipart_upload("mp", up.upload_id, [PartInfo(1, p1.etag), PartInfo(2, p2.etag)])
    assert b.get_object("mp").read()[-100:] == data[:100]
    b.copy_object(name, "top", "top-copy")
    assert b.get_bucket_info().name == name
    assert b.get_bucket_location().location == "oss-cn-hangzhou"
    b.batch_delete_objects(["dir/a b+c", "top", "top-copy", "mp"])
    assert list(oss2.ObjectIterator(b)) == []
    b.delete_bucket()
    assert name not in [x.name for x in oss2.BucketIterator(service)]


@pytest.mark.usefixtures("loopback")
@pytest.mark.parametrize("version", ["v4", "v1"])
def test_v2_virtual_hosted(vhost_server: LocalOssServer, version: str) -> None:
    endpoint = vhost_server.virtual_hosted_endpoint
    assert endpoint is not None
    c = make_v2_client(endpoint, PLAIN_AK, PLAIN_SK, None, version, path_style=False)
    name = _name()
    c.put_bucket(v2.PutBucketRequest(bucket=name))
    listed = c.list_buckets(v2.ListBucketsRequest(prefix=name))
    assert [x.name for x in listed.buckets or []] == [name]
    data = os.urandom(5000)
    put = c.put_object(
        v2.PutObjectRequest(bucket=name, key="a/ü k", body=data, metadata={"m": "1"})
    )
    got = c.get_object(v2.GetObjectRequest(bucket=name, key="a/ü k"))
    assert got.body.read() == data and got.metadata == {"m": "1"}
    head = c.head_object(v2.HeadObjectRequest(bucket=name, key="a/ü k"))
    assert head.hash_crc64 == put.hash_crc64
    page = c.list_objects_v2(v2.ListObjectsV2Request(bucket=name))
    assert [o.key for o in page.contents or []] == ["a/ü k"]
    init = c.initiate_multipart_upload(v2.InitiateMultipartUploadRequest(bucket=name, key="mp"))
    c.upload_part(
        v2.UploadPartRequest(
            bucket=name, key="mp", upload_id=init.upload_id, part_number=1, body=b"z"
        )
    )
    c.complete_multipart_upload(
        v2.CompleteMultipartUploadRequest(
            bucket=name, key="mp", upload_id=init.upload_id, complete_all="yes"
        )
    )
    assert c.get_object(v2.GetObjectRequest(bucket=name, key="mp")).body.read() == b"z"
    info = c.get_bucket_info(v2.GetBucketInfoRequest(bucket=name))
    assert info.bucket_info is not None and info.bucket_info.name == name
    for key in ("a/ü k", "mp"):
        c.delete_object(v2.DeleteObjectRequest(bucket=name, key=key))
    c.delete_bucket(v2.DeleteBucketRequest(bucket=name))
    assert not c.is_bucket_exist(name)


def test_path_style_still_served_beside_virtual_hosts(vhost_server: LocalOssServer) -> None:
    """The IP endpoint (path style) and a Host outside the suffix keep the bucket in the path."""
    name = _name()
    vhost_server.create_bucket(name)
    b = oss2.Bucket(oss2.Auth(PLAIN_AK, PLAIN_SK), vhost_server.endpoint, name)
    b.put_object("k", b"path style")
    assert b.get_object("k").read() == b"path style"
    # A raw request naming the bucket in Host only, signed as OSS signs it (/bucket/key).
    creds = signing.Credentials(PLAIN_AK, PLAIN_SK, None)
    headers = {"Host": f"{name}.{SUFFIX}:{vhost_server.port}"}
    signing.sign_v1(creds, "GET", name, "k", [], headers, datetime.now(timezone.utc))
    status, _, body = http("GET", f"{vhost_server.endpoint}/k", headers=headers)
    assert (status, body) == (200, b"path style")
    # A Host that is not under the suffix: path style, whatever the name.
    headers = {"Host": f"{name}.elsewhere.example:{vhost_server.port}"}
    signing.sign_v1(creds, "GET", name, "k", [], headers, datetime.now(timezone.utc))
    status, _, body = http("GET", f"{vhost_server.endpoint}/{name}/k", headers=headers)
    assert (status, body) == (200, b"path style")
