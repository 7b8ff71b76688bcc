"""Sans-I/O pieces of the server, without sockets: request-target parsing, ranges, listings."""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path

import pytest

from agentbay_oss.server.auth import v4_timestamp
from agentbay_oss.server.errors import OssError
from agentbay_oss.server.faults import FaultConfig, FaultInjector
from agentbay_oss.server.request import (
    RequestIds,
    bucket_in_host,
    check_conditions,
    http_time,
    parse_range,
    parse_target,
    strict_unquote,
)
from agentbay_oss.server.routing import operation
from agentbay_oss.server.storage import ListedObject, ObjectRecord, Storage
from agentbay_oss.server.xmlio import contents_xml, el, enc, iso8601, node, owner_xml, quoted


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/", ("", "", [])),
        ("/b/", ("b", "", [])),
        ("/b/a%2Fb%20c+d", ("b", "a/b c+d", [])),  # path: + stays +
        ("/b/k?uploads", ("b", "k", [("uploads", None)])),
        ("/b/k?partNumber=2&uploadId=X", ("b", "k", [("partNumber", "2"), ("uploadId", "X")])),
        (
            "/b/?prefix=a+b%2B&marker=",
            ("b", "", [("prefix", "a b+"), ("marker", "")]),
        ),  # query: + is space
        ("/b/%E2%82%AC", ("b", "€", [])),
        ("/b//double", ("b", "/double", [])),
    ],
)
def test_parse_target(target: str, expected: tuple[str, str, list[tuple[str, str | None]]]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize("bad", ["/b/%zz", "/b/%C3", "/b/%", "/b/k?x=%G0", "b/k"])
def test_parse_target_rejects(bad: str) -> None:
    with pytest.raises(OssError) as exc:
        parse_target(bad)
    assert exc.value.code == "InvalidURI" and exc.value.status == 400


def test_strict_unquote_plus() -> None:
    assert strict_unquote("a+b", plus=True) == "a b"
    assert strict_unquote("a+b") == "a+b"


@pytest.mark.parametrize(
    "header,size,expected",
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=100-", 100, (100, 100)),  # unsatisfiable: the caller decides 200 or 416
        ("bytes=5-2", 100, None),
        ("bytes=0-1,5-6", 100, None),
        ("bytes=x-1", 100, None),
        ("pages=0-1", 100, None),
        ("bytes=-0", 100, None),
        ("bytes=-5", 0, None),
        ("bytes=" + "9" * 5000 + "-", 100, (10**19, 10**19)),
    ],
)
def test_parse_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


def _rec(key: str, etag: str = "ABC", mtime: float = 1_000_000.4) -> ObjectRecord:
    return ObjectRecord("b", key, 1, etag, 0, mtime, "x/y", {}, "Normal", [])


def test_conditions_quotes_and_whole_seconds() -> None:
    rec = _rec("k")
    assert check_conditions({"if-match": "ABC"}, rec) is None  # oss2 sends it unquoted
    assert check_conditions({"if-match": '"ABC"'}, rec) is None
    assert check_conditions({"if-match": '"XYZ"'}, rec) == 412
    assert check_conditions({"if-none-match": '"ABC"'}, rec) == 304
    same_second = "Mon, 12 Jan 1970 13:46:40 GMT"  # 1_000_000 s, the fraction dropped
    assert check_conditions({"if-unmodified-since": same_second}, rec) is None
    assert check_conditions({"if-modified-since": same_second}, rec) == 304
    assert check_conditions({"if-unmodified-since": "Mon, 12 Jan 1970 13:46:39 GMT"}, rec) == 412
    assert check_conditions({"if-modified-since": "garbage"}, rec) is None


def test_operation_names() -> None:
    assert operation("GET", "", "", {}, {}) == "ListBuckets"
    assert operation("GET", "b", "", {"list-type": "2"}, {}) == "ListObjectsV2"
    assert operation("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}, {}) == "UploadPart"
    assert operation("PUT", "b", "k", {}, {"x-oss-copy-source": "/b/s"}) == "CopyObject"
    assert operation("POST", "b", "k", {"uploadId": "u"}, {}) == "CompleteMultipartUpload"
    assert operation("PATCH", "b", "k", {}, {}) == "Unsupported"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    s = Storage(tmp_path)
    s.create_bucket("b")
    for key in ["a/1", "a/2", "a/b/3", "b", "c/", "c/x", "d", "e/f/g", "\U0010ffffz/1"]:
        s.put_object(_rec(key))
    yield s
    s.close()


def _walk(store: Storage, prefix: str, delimiter: str, page: int) -> list[str]:
    out: list[str] = []
    after = ""
    while True:
        listing = store.list_objects("b", prefix, after, delimiter, page)
        out += [r.key for r in listing.contents] + ["P:" + p for p in listing.prefixes]
        if not listing.truncated:
            return out
        after = listing.next_marker


@pytest.mark.parametrize("page", [1, 2, 3, 1000])
def test_listing_pages_agree(store: Storage, page: int) -> None:
    # Pages may interleave keys and prefixes differently; the union is the same, once each.
    assert sorted(_walk(store, "", "/", page)) == sorted(_walk(store, "", "/", 1000))
    assert len(_walk(store, "", "/", page)) == 6
    flat = _walk(store, "", "", page)
    assert flat == sorted(flat) and len(flat) == 9
    assert _walk(store, "a/", "/", page) == ["a/1", "a/2", "P:a/b/"]


def test_listing_delimiter_set(store: Storage) -> None:
    listing = store.list_objects("b", "", "", "/", 1000)
    assert [r.key for r in listing.contents] == ["b", "d"]
    assert listing.prefixes == ["a/", "c/", "e/", "\U0010ffffz/"]
    assert store.list_objects("b", "", "b", "/", 1000).prefixes == ["c/", "e/", "\U0010ffffz/"]
    assert [r.key for r in store.list_objects("b", "c/", "", "/", 1000).contents] == ["c/", "c/x"]


def test_storage_reopen_and_orphans(tmp_path: Path) -> None:
    s = Storage(tmp_path)
    s.create_bucket("b")
    temp = s.new_temp()
    temp.write_bytes(b"data")
    blob = s.commit_blob(temp)
    s.put_object(ObjectRecord("b", "k", 4, "E", 1, time.time(), "t", {}, "Normal", [(blob, 4)]))
    stray = s.new_temp()
    stray.write_bytes(b"x")
    orphan = s.commit_blob(stray)  # a crash between rename and commit
    (tmp_path / "tmp" / "partial").write_bytes(b"half")
    s.close()
    s2 = Storage(tmp_path)
    rec = s2.get_object("b", "k")
    assert rec is not None and s2.blob_path(blob).read_bytes() == b"data"
    assert not s2.blob_path(orphan).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    s2.close()


def test_fault_decisions_follow_the_seed() -> None:
    def run() -> list[tuple[bool, bool, bool]]:
        inj = FaultInjector(FaultConfig(fail_rate=0.5, reset_rate=0.3, corrupt_rate=0.2, seed=11))
        return [(d.fail, d.reset, d.corrupt) for d in (inj.decide() for _ in range(50))]

    first = run()
    assert first == run()
    assert any(f for f, _, _ in first) and not all(f for f, _, _ in first)
    inj = FaultInjector(FaultConfig(seed=11))
    inj.config.fail_rate = 0.5
    assert [inj.decide().fail for _ in range(50)] == [f for f, _, _ in first]


def test_sink_writes_many_tiny_chunks(tmp_path: Path) -> None:
    import hashlib
    import os

    from agentbay_oss.protocol.crc64 import crc64
    from agentbay_oss.server.bodies import _Sink

    chunks = [bytes([i % 251]) * 7 for i in range(5000)]  # more buffers than writev takes at once
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    sink = _Sink(fd)
    sink.hash_md5(chunks)
    sink.crc_and_write(chunks)
    os.close(fd)
    data = b"".join(chunks)
    assert path.read_bytes() == data
    assert sink.md5.digest() == hashlib.md5(data).digest() and sink.crc == crc64(data)


def test_http_time_matches_formatdate() -> None:
    rng = random.Random(5)
    stamps = [0.0, 951782400.5, 1e9, 4102444799.0] + [rng.uniform(0, 4e9) for _ in range(300)]
    for ts in stamps:
        assert http_time(ts) == formatdate(int(ts), usegmt=True)


def test_request_ids_are_unique_oss_shaped() -> None:
    ids = RequestIds()
    seen = [ids() for _ in range(1000)]
    assert len(set(seen)) == 1000
    assert all(re.fullmatch(r"[0-9A-F]{24}", i) for i in seen)


def test_v4_stamp_parsing() -> None:
    for stamp in ("20261125T082326Z", "20000229T235959Z", "19700101T000000Z"):
        expected = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        assert v4_timestamp(stamp) == expected.timestamp()
    for bad in ("20261325T000000Z", "20261125T082326", "2026-11-25T08:23Z", "+0261125T082326Z",
                "20261125 082326Z", "20261131T000000Z", "２0261125T082326Z", ""):  # fmt: skip
        with pytest.raises(OssError) as err:
            v4_timestamp(bad)
        assert err.value.code == "AccessDenied"


def test_storage_opens_a_root_from_before_inline_objects(tmp_path: Path) -> None:
    # The objects table as servers without inline objects wrote it: no `data` column.
    db = sqlite3.connect(tmp_path / "meta.sqlite3")
    db.executescript(
        """CREATE TABLE buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
        CREATE TABLE objects (
            bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
            crc TEXT NOT NULL, mtime REAL NOT NULL, content_type TEXT NOT NULL,
            headers TEXT NOT NULL, otype TEXT NOT NULL, segments TEXT NOT NULL,
            PRIMARY KEY (bucket, key)) WITHOUT ROWID;
        INSERT INTO buckets VALUES ('b', 0);
        INSERT INTO objects VALUES ('b', 'old', 0, 'E', '0', 0, 't', '{}', 'Normal', '[]');"""
    )
    db.commit()
    db.close()
    s = Storage(tmp_path)
    old = s.get_object("b", "old")
    assert old is not None and old.data is None and old.segments == []
    s.put_object(ObjectRecord("b", "new", 3, "E", 1, 0.0, "t", data=b"abc"))
    new = s.get_object("b", "new")
    assert new is not None and new.data == b"abc"
    assert s.get_object("b", "new", data=False) == ObjectRecord("b", "new", 3, "E", 1, 0.0, "t")
    s.close()


@pytest.mark.parametrize(
    "host,bucket",
    [
        ("b1.oss-test.localhost:8080", "b1"),
        ("B1.OSS-TEST.localhost", "b1"),  # host names are case-insensitive
        ("oss-test.localhost:8080", None),  # the suffix itself: path style (service, buckets)
        ("xoss-test.localhost", None),  # not a subdomain
        (".oss-test.localhost", None),
        ("127.0.0.1:9000", None),
        ("[::1]:9000", None),
        ("b1.other.example", None),
    ],
)
def test_bucket_in_host(host: str, bucket: str | None) -> None:
    assert bucket_in_host(host, "oss-test.localhost") == bucket


def test_parse_target_virtual_hosted() -> None:
    assert parse_target("/dir/a%20b?acl", "bkt") == ("bkt", "dir/a b", [("acl", None)])
    assert parse_target("/", "bkt") == ("bkt", "", [])
    assert parse_target("//k", "bkt") == ("bkt", "/k", [])


@pytest.mark.parametrize("url", [False, True])
@pytest.mark.parametrize("owner", [False, True])
@pytest.mark.parametrize(
    "key", ["plain/key.bin", "a&b<c>d", "sp ace+%41", "ctl\x01\x1f", "ünï/日本", "q\"'", "\ufffex"]
)
def test_contents_xml_matches_the_element_builders(key: str, url: bool, owner: bool) -> None:
    # The fast builder of listing entries says what the general ones (el / node) say.
    obj = ListedObject(key, 1024, "5D41-2", 1_700_000_000.7, "Multipart", "IA&<x>")
    expected = node(
        "Contents", el("Key", enc(key, url)), el("LastModified", iso8601(obj.mtime)),
        el("ETag", quoted(obj.etag)), el("Type", obj.otype), el("Size", obj.size),
        el("StorageClass", obj.storage_class), owner_xml() if owner else "",
    )  # fmt: skip
    assert contents_xml(obj, url, owner) == expected
    assert iso8601(obj.mtime) == "2023-11-14T22:13:20.000Z"


def test_listing_reads_storage_class_only_from_headers_naming_it(tmp_path: Path) -> None:
    s = Storage(tmp_path)
    try:
        s.create_bucket("b")
        s.put_object(_rec("plain"))
        cold = _rec("cold")
        cold.headers = {"x-oss-meta-mtime": "1", "x-oss-storage-class": "Archive"}
        s.put_object(cold)
        meta = _rec("meta")
        meta.headers = {"x-oss-meta-note": "storage"}
        s.put_object(meta)
        listing = s.list_objects("b", "", "", "", 1000)
        assert [(o.key, o.storage_class) for o in listing.contents] == [
            ("cold", "Archive"), ("meta", "Standard"), ("plain", "Standard"),
        ]  # fmt: skip
        assert not listing.truncated
        first = s.list_objects("b", "", "", "", 2)
        assert [o.key for o in first.contents] == ["cold", "meta"] and first.truncated
    finally:
        s.close()
