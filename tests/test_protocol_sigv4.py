"""The S3 dialect's sans-I/O pieces: SigV4 signing and aws-chunked decoding.

Judges: the worked example of AWS's "Signature Calculations for the Authorization Header:
Transferring Payload in Multiple Chunks" (its published signatures), and botocore's own
signer (`S3SigV4Auth`), chunked-body writer (`AwsChunkedWrapper`) and checksums.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha1Checksum, Sha256Checksum

from agentbay_oss.protocol import sigv4
from agentbay_oss.protocol.awschunked import AwsChunkedDecoder, Checksum, ChunkError, ChunkSigning

# AWS's example: 66,560 bytes of "a" in chunks of 65,536 and 1,024 bytes.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STAMP, DAY, REGION = "20130524T000000Z", "20130524", "us-east-1"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
EXAMPLE_HEADERS = {
    "content-encoding": "aws-chunked",
    "content-length": "66824",
    "host": "s3.amazonaws.com",
    "x-amz-content-sha256": sigv4.STREAMING_SIGNED,
    "x-amz-date": STAMP,
    "x-amz-decoded-content-length": "66560",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
}


def _example_body() -> bytes:
    sizes = (65536, 1024, 0)
    return b"".join(
        f"{size:x};chunk-signature={sig}\r\n".encode() + b"a" * size + b"\r\n"
        for size, sig in zip(sizes, CHUNK_SIGNATURES, strict=True)
    )


def _example_signing() -> ChunkSigning:
    key = sigv4.signing_key(SECRET, DAY, REGION)
    return ChunkSigning(key, STAMP, sigv4.scope(DAY, REGION), SEED)


def test_seed_signature_of_the_aws_example() -> None:
    canonical = sigv4.canonical_request(
        "PUT", "/examplebucket/chunkObject.txt", [], EXAMPLE_HEADERS,
        sorted(EXAMPLE_HEADERS), sigv4.STREAMING_SIGNED,
    )  # fmt: skip
    key = sigv4.signing_key(SECRET, DAY, REGION)
    sts = sigv4.string_to_sign(STAMP, sigv4.scope(DAY, REGION), canonical)
    assert sigv4.signature(key, sts) == SEED


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_signed_chunks_decode_in_any_pieces(piece: int) -> None:
    body = _example_body()
    assert len(body) == 66824  # the example's Content-Length
    decoder = AwsChunkedDecoder(_example_signing())
    out = b"".join(b"".join(decoder.feed(body[i : i + piece])) for i in range(0, len(body), piece))
    decoder.finish()
    assert out == b"a" * 66560 and decoder.decoded == 66560


@pytest.mark.parametrize("where", ["data", "signature"])
def test_a_changed_chunk_fails_its_signature(where: str) -> None:
    body = bytearray(_example_body())
    pos = body.index(b"\r\n") + 100 if where == "data" else body.index(b"=") + 5
    body[pos] ^= 1
    with pytest.raises(ChunkError) as info:
        AwsChunkedDecoder(_example_signing()).feed(bytes(body))
    assert info.value.code == "SignatureDoesNotMatch"


def test_a_truncated_body_is_incomplete() -> None:
    decoder = AwsChunkedDecoder(_example_signing())
    decoder.feed(_example_body()[:-40])
    with pytest.raises(ChunkError) as info:
        decoder.finish()
    assert info.value.code == "IncompleteBody"


def _botocore_framed(data: bytes, algorithm: str, chunk_size: int) -> bytes:
    checksum_cls = {"crc32": Crc32Checksum, "sha1": Sha1Checksum, "sha256": Sha256Checksum}
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=checksum_cls[algorithm],
        checksum_name=f"x-amz-checksum-{algorithm}",
        chunk_size=chunk_size,
    )
    return wrapper.read()


@pytest.mark.parametrize("algorithm", ["crc32", "sha1", "sha256"])
@pytest.mark.parametrize("size", [0, 1, 5000, 70000])
def test_botocore_unsigned_trailer_bodies_decode(algorithm: str, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    framed = _botocore_framed(data, algorithm, 4096)
    decoder = AwsChunkedDecoder(None, Checksum(algorithm))
    out = b"".join(
        b"".join(decoder.feed(framed[i : i + 1000])) for i in range(0, len(framed), 1000)
    )
    decoder.finish()
    assert out == data


def test_a_wrong_trailer_checksum_is_bad_digest() -> None:
    framed = _botocore_framed(b"payload" * 100, "crc32", 256)
    tampered = framed.replace(b"payload", b"paYload", 1)  # same framing, other bytes
    decoder = AwsChunkedDecoder(None, Checksum("crc32"))
    with pytest.raises(ChunkError) as info:
        decoder.feed(tampered)
    assert info.value.code == "BadDigest"


def test_checksums_match_botocore_and_the_catalogue() -> None:
    data = b"123456789"
    for algorithm, judge in (("crc32", Crc32Checksum), ("sha1", Sha1Checksum)):
        ours = Checksum(algorithm)
        ours.update(data[:4])
        ours.update(data[4:])
        theirs = judge()
        theirs.update(data)
        assert ours.value() == theirs.b64digest()
    nvme, crc32c = Checksum("crc64nvme"), Checksum("crc32c")
    nvme.update(data)
    crc32c.update(data)
    # The CRC catalogue's check values for "123456789".
    assert nvme.value() == "rosUhgp5mIg="  # 0xAE8B14860A799888
    assert crc32c.value() == "4waSgw=="  # 0xE3069283


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("http://127.0.0.1:9000/bkt/a%20b/%E2%82%AC~x.txt", []),
        (
            "http://127.0.0.1:9000/bkt?list-type=2&prefix=a%2Fb&uploads",
            [("list-type", "2"), ("prefix", "a/b"), ("uploads", None)],
        ),
    ],
)
def test_canonical_request_matches_botocore(url: str, query: list[tuple[str, str | None]]) -> None:
    request = AWSRequest(method="GET", url=url, headers={"X-Amz-Meta-Note": "  two   spaces "})
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials("AKID", "SECRET"), "s3", REGION).add_auth(request)
    parsed = sigv4.parse_authorization(request.headers["Authorization"])
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:9000"  # botocore signs the URL's host; the wire adds it
    path = url.split("9000", 1)[1].partition("?")[0]
    canonical = sigv4.canonical_request(
        "GET", path, query, headers, parsed.signed_headers, headers["x-amz-content-sha256"]
    )
    key = sigv4.signing_key("SECRET", parsed.credential.day, REGION)
    sts = sigv4.string_to_sign(headers["x-amz-date"], parsed.credential.scope, canonical)
    assert sigv4.signature(key, sts) == parsed.signature
    assert headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    "value",
    [
        "AWS4-HMAC-SHA256 Credential=AK/20260101/r/s3/aws4_request, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AK/20260101/r/s3, SignedHeaders=host, Signature=ab",
        "OSS4-HMAC-SHA256 Credential=AK/20260101/r/oss/aliyun_v4_request",
    ],
)
def test_malformed_authorization_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        sigv4.parse_authorization(value)
