"""AppendObject (`POST /key?append&position=N`), the way ossfs writes: oss2 chains the CRC-64
of the whole object through `init_crc`, alibabacloud-oss-v2's append_file resumes from
HeadObject's `x-oss-next-append-position`."""

from __future__ import annotations

import base64
import io
import os

import alibabacloud_oss_v2 as v2
import oss2
import pytest
from server_testlib import error_code

from agentbay_oss.protocol.crc64 import crc64

Env = tuple[v2.Client, str]


def _service_error(exc: pytest.ExceptionInfo[BaseException]) -> v2.exceptions.ServiceError:
    err: object = exc.value
    while isinstance(err, v2.exceptions.OperationError):
        err = err.unwrap()
    assert isinstance(err, v2.exceptions.ServiceError), exc.value
    return err


def test_oss2_append_chains_crc_and_positions(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    headers = {"Content-Type": "text/x-log", "x-oss-meta-origin": "ossfs"}
    r1 = b.append_object("log", 0, b"hello ", headers=headers, init_crc=0)
    assert (r1.next_position, r1.crc) == (6, crc64(b"hello "))
    # oss2 checks the answer's CRC against crc64(body, init_crc): the whole object's CRC.
    r2 = b.append_object("log", r1.next_position, b"world", init_crc=r1.crc)
    assert (r2.next_position, r2.crc) == (11, crc64(b"hello world"))
    # A big append, sent chunked (a file object), crossing from inline to blob storage.
    big = os.urandom(300 * 1024)
    r3 = b.append_object("log", 11, io.BytesIO(big), init_crc=r2.crc)
    whole = b"hello world" + big
    assert (r3.next_position, r3.crc) == (len(whole), crc64(whole))
    r4 = b.append_object("log", r3.next_position, b"!", init_crc=r3.crc)
    whole += b"!"
    got = b.get_object("log")  # oss2 verifies the CRC of a whole-object GET
    assert got.read() == whole
    assert got.headers["x-oss-object-type"] == "Appendable"
    assert got.headers["x-oss-next-append-position"] == str(len(whole))
    assert got.headers["Content-Type"] == "text/x-log"  # the first append's headers stay
    assert got.headers["x-oss-meta-origin"] == "ossfs"
    assert b.get_object("log", byte_range=(5, 12)).read() == whole[5:13]
    head = b.head_object("log")
    assert head.object_type == "Appendable" and head.content_length == len(whole)
    assert int(head.headers["x-oss-hash-crc64ecma"]) == r4.crc == crc64(whole)
    assert [o.type for o in oss2.ObjectIterator(b)] == ["Appendable"]
    # A stale position: 409 with the position to use.
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as exc:
        b.append_object("log", 6, b"late")
    assert exc.value.next_position == len(whole) and exc.value.ec == "0026-00000016"
    assert b.get_object("log").read() == whole
    # Only appendable objects take appends; a PutObject over one makes it Normal.
    b.put_object("normal", b"x")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable) as na:
        b.append_object("normal", 1, b"y")
    assert na.value.ec == "0026-00000017"
    b.put_object("log", b"replaced")
    assert b.head_object("log").object_type == "Normal"
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        b.append_object("log", 8, b"z")
    # Position 0 on a missing object creates it, also empty; then position 0 again is stale.
    assert b.append_object("empty", 0, b"").next_position == 0
    assert b.append_object("empty", 0, b"a").next_position == 1
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength):
        b.append_object("empty", 0, b"a")


def test_oss2_append_checks_content_md5(oss2_bucket: oss2.Bucket) -> None:
    b = oss2_bucket
    b.append_object("k", 0, b"abc")
    wrong = base64.b64encode(b"0" * 16).decode()
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        b.append_object("k", 3, b"def", headers={"Content-MD5": wrong})
    assert exc.value.code == "InvalidDigest"
    assert b.get_object("k").read() == b"abc"


def test_v2_append_object_and_append_file(v2_env: Env) -> None:
    c, bkt = v2_env
    r1 = c.append_object(
        v2.AppendObjectRequest(
            bucket=bkt, key="a.log", position=0, body=b"abc", content_type="text/x-log",
            metadata={"who": "v2"}, cache_control="no-cache",
        )
    )  # fmt: skip
    assert r1.next_position == 3 and r1.hash_crc64 == str(crc64(b"abc"))
    r2 = c.append_object(v2.AppendObjectRequest(bucket=bkt, key="a.log", position=3, body=b"def"))
    assert r2.next_position == 6 and r2.hash_crc64 == str(crc64(b"abcdef"))
    with pytest.raises(Exception) as exc:
        c.append_object(v2.AppendObjectRequest(bucket=bkt, key="a.log", position=1, body=b"x"))
    err = _service_error(exc)
    assert (err.status_code, err.code) == (409, "PositionNotEqualToLength")
    got = c.get_object(v2.GetObjectRequest(bucket=bkt, key="a.log"))
    assert got.body.read() == b"abcdef" and got.object_type == "Appendable"
    assert got.content_type == "text/x-log" and got.metadata == {"who": "v2"}
    assert got.cache_control == "no-cache"
    # The file-like API: HEAD for the type and position, then appends; reopened, it resumes.
    chunk = os.urandom(70 * 1024)
    with c.append_file(bkt, "f.log") as f:
        assert f.write(b"first ") == 6
        assert f.write(chunk) == len(chunk)
    with c.append_file(bkt, "f.log") as f:
        assert f.tell() == 6 + len(chunk)
        f.write(b" last")
    expected = b"first " + chunk + b" last"
    head = c.head_object(v2.HeadObjectRequest(bucket=bkt, key="f.log"))
    assert head.object_type == "Appendable" and head.content_length == len(expected)
    assert head.hash_crc64 == str(crc64(expected))
    assert c.get_object(v2.GetObjectRequest(bucket=bkt, key="f.log")).body.read() == expected
    c.put_object(v2.PutObjectRequest(bucket=bkt, key="plain", body=b"x"))
    with pytest.raises(Exception) as exc:
        c.append_object(v2.AppendObjectRequest(bucket=bkt, key="plain", position=1, body=b"y"))
    assert _service_error(exc).code == "ObjectNotAppendable"
    with pytest.raises(v2.filelike.PathError, match="Not a appendable file"):
        c.append_file(bkt, "plain")  # v2 checks the type HeadObject reports


def test_append_without_position_is_refused(creds: object, bucket: str) -> None:
    from server_testlib import signed

    status, _, body = signed(creds, "POST", bucket, "k", body=b"x", query=[("append", None)])
    assert status == 400 and error_code(body) == "InvalidArgument"
    status, _, body = signed(
        creds, "POST", bucket, "k", body=b"x", query=[("append", None), ("position", "-1")]
    )
    assert status == 400 and error_code(body) == "InvalidArgument"
    status, _, _ = signed(creds, "GET", bucket, "k")
    assert status == 404
