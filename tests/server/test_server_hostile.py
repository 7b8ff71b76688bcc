"""Hostile input: always a 4xx with OSS error XML, never a 500, never a crash (issue 6)."""

from __future__ import annotations

import contextlib
import socket
from typing import Any, BinaryIO
from urllib.parse import urlsplit
from xml.etree import ElementTree

import oss2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_testlib import error_code, http, object_url, raw, response_body, signed

from agentbay_oss.server import LocalOssServer


def _is_oss_error(resp: bytes) -> str:
    body = response_body(resp)
    root = ElementTree.fromstring(body)
    assert root.tag == "Error" and root.findtext("RequestId"), body[:300]
    return root.findtext("Code") or ""


def _alive(srv: LocalOssServer) -> None:
    status, _, _ = http("GET", object_url(srv.endpoint, "public-bkt", "never-there"))
    assert status == 404


@pytest.fixture
def upload(creds: Any, bucket: str) -> str:
    status, _, body = signed(creds, "POST", bucket, "mp", query=[("uploads", None)])
    assert status == 200
    return ElementTree.fromstring(body).findtext("UploadId") or ""


COMPLETE_BODIES = [
    b"",
    b"not xml at all",
    b"<CompleteMultipartUpload><Part>",
    b"<Wrong/>",
    b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&b;</ETag></Part></CompleteMultipartUpload>",
    b"\xff\xfe<\x00",
]


@pytest.mark.parametrize("body", COMPLETE_BODIES)
def test_malformed_complete_bodies(creds: Any, bucket: str, upload: str, body: bytes) -> None:
    status, _, resp = signed(creds, "POST", bucket, "mp", body=body, query=[("uploadId", upload)])
    assert status == 400 and error_code(resp) in ("MalformedXML", "InvalidPartOrder"), resp


def test_too_many_parts_in_complete(creds: Any, bucket: str, upload: str) -> None:
    part = '<Part><PartNumber>{}</PartNumber><ETag>"0123456789ABCDEF0123456789ABCDEF"</ETag></Part>'
    over = (
        "<CompleteMultipartUpload>"
        + "".join(part.format(i) for i in range(1, 10_002))
        + "</CompleteMultipartUpload>"
    )
    status, _, resp = signed(
        creds, "POST", bucket, "mp", body=over.encode(), query=[("uploadId", upload)]
    )
    assert status == 400 and error_code(resp) == "InvalidArgument"
    full = (
        "<CompleteMultipartUpload>"
        + "".join(part.format(i) for i in range(1, 10_001))
        + "</CompleteMultipartUpload>"
    )
    status, _, resp = signed(
        creds, "POST", bucket, "mp", body=full.encode(), query=[("uploadId", upload)]
    )
    assert status == 400 and error_code(resp) == "InvalidPart"
    big = b"<CompleteMultipartUpload>" + b" " * (9 * 1024 * 1024) + b"</CompleteMultipartUpload>"
    status, _, resp = signed(creds, "POST", bucket, "mp", body=big, query=[("uploadId", upload)])
    assert status == 400 and error_code(resp) == "EntityTooLarge"


@pytest.mark.parametrize(
    "body",
    [b"junk", b"<Delete></Delete>", b"<Delete><Object/></Delete>", b"<Other/>",
     b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"],
)  # fmt: skip
def test_malformed_delete_bodies(creds: Any, bucket: str, body: bytes) -> None:
    status, _, resp = signed(creds, "POST", bucket, "", body=body, query=[("delete", None)])
    assert status == 400 and error_code(resp) == "MalformedXML"


RANGES = [
    ("bytes=99999999999999999999-", 200), ("bytes=-0", 200), ("bytes=5-2", 200), ("bytes=abc", 200),
    ("bytes=0-1,2-3", 200), ("items=0-1", 200), ("bytes=-99999999999999999999", 206), ("bytes=", 200),
    ("bytes=-", 200), ("bytes=1-2" + "0" * 5000, 200), ("bytes=0-0", 206), ("bytes=9-", 206),
    ("bytes=10-", 200), ("bytes=0-99999999999999999999999", 200), ("bytes=\x7f-1", 400),
]  # fmt: skip


def test_absurd_ranges(creds: Any, bucket: str) -> None:
    data = b"0123456789"
    assert signed(creds, "PUT", bucket, "r", body=data)[0] == 200
    for header, expected in RANGES:
        status, headers, body = signed(creds, "GET", bucket, "r", headers={"Range": header})
        assert status == expected, (header, status, body[:200])
        if status == 200:
            assert body == data
        elif status == 206:
            first, last = headers["Content-Range"].split(" ")[1].split("/")[0].split("-")
            assert body == data[int(first) : int(last) + 1]
    status, _, body = signed(
        creds,
        "GET",
        bucket,
        "r",
        headers={"Range": "bytes=10-", "x-oss-range-behavior": "standard"},
    )
    assert status == 416 and error_code(body) == "InvalidRange"
    status, _, body = signed(
        creds,
        "GET",
        bucket,
        "r",
        headers={"Range": "bytes=5-99", "x-oss-range-behavior": "standard"},
    )
    assert status == 206 and body == data[5:]


def _request(srv: LocalOssServer, head: str, body: bytes = b"") -> tuple[int, bytes]:
    host = urlsplit(srv.endpoint).netloc
    head = head.replace("Host: HOST\r\n", f"Host: {host}\r\nConnection: close\r\n")
    return raw(srv.endpoint, head.encode("latin-1") + body)


@pytest.mark.parametrize(
    "head,code",
    [
        (
            "PUT /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            None,
        ),
        ("PUT /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nContent-Length: -5\r\n\r\n", None),
        (
            "PUT /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nContent-Length: 10000000000\r\n\r\n",
            "EntityTooLarge",
        ),
        (
            "PUT /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            None,
        ),
        ("GET /public-bkt/%zz HTTP/1.1\r\nHost: HOST\r\n\r\n", "InvalidURI"),
        ("GET /public-bkt/%C3%28 HTTP/1.1\r\nHost: HOST\r\n\r\n", "InvalidURI"),
        # Control characters XML cannot carry, echoed in <Key>: the error stays well-formed.
        ("GET /public-bkt/%00a%1F HTTP/1.1\r\nHost: HOST\r\n\r\n", "NoSuchKey"),
        ("GET /public-bkt/?prefix=%G1 HTTP/1.1\r\nHost: HOST\r\n\r\n", "InvalidURI"),
        ("GET /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nX-Big: " + "a" * 70000 + "\r\n\r\n", None),
        (
            "GET /public-bkt/k HTTP/1.1\r\nHost: HOST\r\n"
            + "".join(f"X-H{i}: v\r\n" for i in range(300))
            + "\r\n",
            None,
        ),
        ("\x00\x01\x02 garbage\r\n\r\n", None),
        ("GET /public-bkt/k HTTP/9.9\r\nHost: HOST\r\n\r\n", None),
        ("BREW /public-bkt/k HTTP/1.1\r\nHost: HOST\r\n\r\n", None),
        ("OPTIONS /public-bkt/k HTTP/1.1\r\nHost: HOST\r\n\r\n", "NotImplemented"),
        ("GET /public-bkt/%00%0C HTTP/1.1\r\nHost: HOST\r\n\r\n", "NoSuchKey"),  # <Key> in XML
        ("GET /public-bkt/" + "k" * 2000 + " HTTP/1.1\r\nHost: HOST\r\n\r\n", "InvalidObjectName"),
        (
            "PUT /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            None,
        ),
        (
            "POST /public-bkt/k?uploadId=nope HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\n\r\n",
            "NoSuchUpload",
        ),
        (
            "PUT /public-bkt/k?partNumber=1&uploadId=nope HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\n\r\n",
            "NoSuchUpload",
        ),
        (
            "PUT /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nx-oss-copy-source: /nope\r\nContent-Length: 0\r\n\r\n",
            "InvalidArgument",
        ),
        ("GET /public-bkt/?max-keys=-1 HTTP/1.1\r\nHost: HOST\r\n\r\n", "InvalidArgument"),
        (
            "GET /public-bkt/?list-type=2&continuation-token=%%%% HTTP/1.1\r\nHost: HOST\r\n\r\n",
            "InvalidURI",
        ),
        (
            "GET /public-bkt/?list-type=2&continuation-token=!!! HTTP/1.1\r\nHost: HOST\r\n\r\n",
            "InvalidArgument",
        ),
        (
            "GET /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nAuthorization: OSS4-HMAC-SHA256 garbage\r\n\r\n",
            "InvalidArgument",
        ),
        (
            "GET /public-bkt/k HTTP/1.1\r\nHost: HOST\r\nAuthorization: OSS nocolon\r\n\r\n",
            "InvalidArgument",
        ),
        (
            "GET /public-bkt/k?x-oss-signature=1&x-oss-credential=a HTTP/1.1\r\nHost: HOST\r\n\r\n",
            "AccessDenied",
        ),
        (
            "GET /public-bkt/k?OSSAccessKeyId=a&Expires=x&Signature=s HTTP/1.1\r\nHost: HOST\r\n\r\n",
            "InvalidAccessKeyId",
        ),
    ],
)
def test_hostile_requests(plain_server: LocalOssServer, head: str, code: str | None) -> None:
    status, resp = _request(plain_server, head)
    assert status != 0, resp[:200]  # an answer, not a silent close
    if code == "NotImplemented":  # a method or sub-resource this server does not serve
        assert status == 501, resp[:300]
    else:
        assert 400 <= status < 500, resp[:300]
    got = _is_oss_error(resp)
    if code is not None:
        assert got == code
    _alive(plain_server)


def test_body_shorter_than_content_length_then_close(plain_server: LocalOssServer) -> None:
    host = urlsplit(plain_server.endpoint).netloc
    status, _ = raw(
        plain_server.endpoint,
        f"PUT /public-bkt/short HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\nabc".encode(),
        timeout=1,
    )
    assert status in (0, 400)
    anon = oss2.Bucket(oss2.AnonymousAuth(), plain_server.endpoint, "public-bkt")
    assert not anon.object_exists("short")
    _alive(plain_server)


# ---------------------------------------------------------------------------- fuzzing

_TOKENS = ["uploads", "uploadId", "partNumber", "delete", "acl", "list-type", "prefix", "marker",
           "max-keys", "delimiter", "encoding-type", "continuation-token", "start-after", "x-oss-signature",
           "OSSAccessKeyId", "Signature", "Expires", "location", "bucketInfo", "objectMeta", "max-parts",
           "part-number-marker", "key-marker", "upload-id-marker", "max-uploads"]  # fmt: skip
_HEADERS = ["Range", "Content-MD5", "x-oss-copy-source", "Authorization", "x-oss-date", "Content-Type",
            "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "x-oss-complete-all",
            "x-oss-metadata-directive", "x-oss-copy-source-range", "x-oss-range-behavior",
            "x-oss-forbid-overwrite", "x-oss-security-token", "x-oss-meta-a", "Date", "Expect"]  # fmt: skip
_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
# Sent as latin-1: anything above 0x7f becomes a raw byte, often invalid UTF-8.
_raw_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
_path_piece = st.one_of(
    _text, _raw_text, st.sampled_from(["%zz", "%C3", "%2F", "..", "%00", "k%20k", "ü", "a/b/"])
)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, str]], bytes]:
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    bucket = draw(st.sampled_from(["fuzz-bkt", "fuzz-bkt", "fuzz-bkt", "nope-bkt", "", "UPPER"]))
    key = (
        "".join(draw(st.lists(_path_piece, max_size=4)))
        .replace(" ", "%20")
        .replace("#", "%23")
        .replace("?", "%3F")
    )
    params = draw(
        st.lists(st.tuples(st.sampled_from(_TOKENS), st.one_of(st.none(), _text)), max_size=4)
    )
    query = "&".join(
        k if v is None else f"{k}={v.replace(' ', '+').replace('&', '%26').replace('#', '%23')}"
        for k, v in params
    )
    target = f"/{bucket}/{key}" + (f"?{query}" if query else "")
    values = st.one_of(_text, _raw_text)
    headers = draw(st.lists(st.tuples(st.sampled_from(_HEADERS), values), max_size=5))
    body = draw(
        st.one_of(
            st.just(b""),
            st.binary(max_size=300),
            st.sampled_from(
                [b"<Delete><Object><Key>a</Key></Object></Delete>", b"<CompleteMultipartUpload/>"]
            ),
        )
    )
    return method, target, headers, body


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=_requests())
def test_fuzz_request_parsing(
    plain_server: LocalOssServer, req: tuple[str, str, list[tuple[str, str]], bytes]
) -> None:
    plain_server.create_bucket("fuzz-bkt", public=True)
    method, target, headers, body = req
    host = urlsplit(plain_server.endpoint).netloc
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value.strip()}" for name, value in headers if name != "Expect"]
    status, resp = raw(
        plain_server.endpoint, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    )
    assert 0 < status < 500 or status == 501, (req, resp[:300])
    if status >= 400 and method != "HEAD":
        code = _is_oss_error(resp)
        assert status != 501 or code == "NotImplemented", resp[:300]


def test_expect_100_continue(plain_server: LocalOssServer) -> None:
    import socket

    parts = urlsplit(plain_server.endpoint)
    head = "PUT /{}/k100 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.format("public-bkt").encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
    assert http("GET", object_url(plain_server.endpoint, "public-bkt", "k100"))[2] == b"hello"
    # Refused before the body: the final answer comes at once, no 100.
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.format("private-nope").encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 403")


@pytest.mark.parametrize(
    "header",
    [b"Authorization: OSS a\xff:b", b"x-oss-meta-a: \xff\xfe", b"Content-Type: \xff",
     b"x-oss-copy-source: /public-bkt/\xff", b"Range: bytes=\xff-1"],
)  # fmt: skip
def test_invalid_utf8_headers(plain_server: LocalOssServer, header: bytes) -> None:
    host = urlsplit(plain_server.endpoint).netloc.encode()
    for method in (b"GET", b"PUT"):
        head = method + b" /public-bkt/u HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n"
        status, resp = raw(
            plain_server.endpoint, head + b"Content-Length: 0\r\n" + header + b"\r\n\r\n"
        )
        assert 400 <= status < 500, resp[:300]
        _is_oss_error(resp)


# ---------------------------------------------------------------------------- framing


def _read_answer(f: BinaryIO) -> tuple[int, dict[str, str], bytes] | None:
    """One response from the connection, or None when the server has closed it."""
    status_line = f.readline()
    if not status_line:
        return None
    headers: dict[str, str] = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def test_get_declaring_a_body_it_never_sends(plain_server: LocalOssServer) -> None:
    """A GET with Content-Length: 9 and no body: the next request on the connection must get
    its own right answer or a clean close, never be read as that body (and answered 400).

    (Pipelined behind such a GET, the next request's first bytes are that body by HTTP's
    framing, and aiohttp answers the rest 400 and closes: no server can tell them apart. The
    clients this server serves wait for each answer before reusing a connection.)"""
    http("PUT", object_url(plain_server.endpoint, "public-bkt", "framing"), b"the object")
    host = urlsplit(plain_server.endpoint).netloc
    request = "GET /public-bkt/framing HTTP/1.1\r\nHost: {}\r\n{}\r\n"
    parts = urlsplit(plain_server.endpoint)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        f = sock.makefile("rb")
        sock.sendall(request.format(host, "Content-Length: 9\r\n").encode())
        first = _read_answer(f)
        assert first is not None and first[0] == 200 and first[2] == b"the object", first
        answers = []
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request.format(host, "").encode())
            while (answer := _read_answer(f)) is not None:
                answers.append(answer)
    # A clean close is fine; any answer that comes must be the object.
    assert all(a[0] == 200 and a[2] == b"the object" for a in answers), answers
    _alive(plain_server)
