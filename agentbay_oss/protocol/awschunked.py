"""S3's `aws-chunked` body framing, decoded incrementally (sans-I/O), and the checksums
(`x-amz-checksum-*`) that ride in its trailer or in a header.

A framed body is a run of chunks `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`, a
zero-size chunk, then trailer lines `name:value\\r\\n` and an empty line. The signed form
(STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) chains each chunk's signature from the
request's (`sigv4.chunk_string_to_sign`); the unsigned form
(STREAMING-UNSIGNED-PAYLOAD-TRAILER, boto3's default for uploads) has no signatures and
carries its checksum in the trailer. `AwsChunkedDecoder.feed` takes bytes as they arrive
and returns the payload bytes found in them; a broken frame, signature or checksum raises
`ChunkError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from dataclasses import dataclass, field

import anycrc
from fastcrc import crc32 as _fastcrc32

from . import sigv4

MAX_LINE = 4096  # a chunk header or trailer line longer than this is garbage
_CRC64_NVME = anycrc.Model("CRC64-NVME")


class ChunkError(ValueError):
    """The body is not what its framing, signatures or checksum say; `code` is S3's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------- checksums

CHECKSUM_PREFIX = "x-amz-checksum-"
ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


class Checksum:
    """One `x-amz-checksum-<algorithm>` value, computed incrementally (base64, big-endian)."""

    __slots__ = ("_crc", "_hash", "algorithm")

    def __init__(self, algorithm: str) -> None:
        if algorithm not in ALGORITHMS:
            raise ChunkError("InvalidRequest", f"Unknown checksum algorithm {algorithm[:20]!r}.")
        self.algorithm = algorithm
        self._crc: int | None = None
        self._hash = hashlib.new(algorithm) if algorithm.startswith("sha") else None

    @property
    def header(self) -> str:
        return CHECKSUM_PREFIX + self.algorithm

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.algorithm == "crc32":
            self._crc = zlib.crc32(data, self._crc or 0)
        elif self.algorithm == "crc32c":
            self._crc = int(_fastcrc32.iscsi(data, initial=self._crc))
        elif self._crc is None:
            self._crc = int(_CRC64_NVME.calc(data))
        else:
            self._crc = int(_CRC64_NVME.calc(data, self._crc))

    def value(self) -> str:
        if self._hash is not None:
            raw = self._hash.digest()
        else:
            width = 8 if self.algorithm == "crc64nvme" else 4
            crc = self._crc
            if crc is None:  # no data at all: the CRC of the empty string
                crc = 0 if self.algorithm != "crc64nvme" else int(_CRC64_NVME.calc(b""))
            raw = crc.to_bytes(width, "big")
        return base64.b64encode(raw).decode()

    def verify(self, provided: str) -> None:
        if not hmac.compare_digest(self.value().encode(), provided.strip().encode()):
            raise ChunkError(
                "BadDigest",
                f"The {self.algorithm.upper()} you specified did not match the calculated checksum.",
            )


# ---------------------------------------------------------------------------- the framing


@dataclass(frozen=True)
class ChunkSigning:
    """What a signed stream's chunk signatures chain from: the request's signature (seed)."""

    key: bytes = field(repr=False)  # derived from the secret: never printed
    stamp: str
    scope: str
    seed: str


_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class AwsChunkedDecoder:
    """Feed framed bytes in, get payload bytes out; `finish()` at the end of the body."""

    def __init__(
        self, signing: ChunkSigning | None = None, checksum: Checksum | None = None
    ) -> None:
        self.signing = signing
        self.checksum = checksum  # declared by x-amz-trailer; its value must be in the trailer
        self.decoded = 0
        self.trailers: dict[str, str] = {}
        self._state = _HEADER
        self._line = bytearray()
        self._left = 0
        self._chunk_signature = ""
        self._previous = signing.seed if signing else ""
        self._sha = hashlib.sha256()
        self._trailer_lines: list[bytes] = []

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        pos, n = 0, len(data)
        while pos < n:
            if self._state == _DATA:
                take = min(self._left, n - pos)
                piece = data if take == n else data[pos : pos + take]
                pos += take
                self._left -= take
                self._payload(piece)
                out.append(piece)
                if not self._left:
                    self._state = _DATA_END
            elif self._state == _DONE:
                raise ChunkError("IncompleteBody", "Bytes after the end of an aws-chunked body.")
            else:
                end = data.find(b"\n", pos)
                stop = n if end < 0 else end + 1
                self._line += data[pos:stop]
                pos = stop
                if len(self._line) > MAX_LINE:
                    raise ChunkError("IncompleteBody", "An aws-chunked line is too long.")
                if end >= 0:
                    line = bytes(self._line)
                    self._line.clear()
                    if not line.endswith(b"\r\n"):
                        raise ChunkError("IncompleteBody", "aws-chunked lines end in CRLF.")
                    self._on_line(line[:-2])
        return out

    def finish(self) -> None:
        """Call at the end of the body: the framing must be complete."""
        if self._state != _DONE:
            raise ChunkError("IncompleteBody", "The aws-chunked body ended before its last chunk.")

    def _payload(self, piece: bytes) -> None:
        self.decoded += len(piece)
        if self.signing:
            self._sha.update(piece)
        if self.checksum:
            self.checksum.update(piece)

    def _on_line(self, line: bytes) -> None:
        if self._state == _HEADER:
            self._on_chunk_header(line)
        elif self._state == _DATA_END:
            if line:
                raise ChunkError("IncompleteBody", "A chunk is longer than its declared size.")
            self._end_chunk()
            self._state = _HEADER
        elif line:  # a trailer line
            self._trailer_lines.append(line)
        else:
            self._end_trailer()
            self._state = _DONE

    def _on_chunk_header(self, line: bytes) -> None:
        size_text, _, ext = line.decode("latin-1").partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise ChunkError("IncompleteBody", "An aws-chunked chunk size is not hex.") from None
        if size < 0:
            raise ChunkError("IncompleteBody", "An aws-chunked chunk size is negative.")
        name, _, value = ext.strip().partition("=")
        self._chunk_signature = value if name == "chunk-signature" else ""
        if self.signing and not self._chunk_signature:
            raise ChunkError("SignatureDoesNotMatch", "A signed chunk has no chunk-signature.")
        if size:
            self._left = size
            self._state = _DATA
        else:  # the last chunk: no data, then the trailer (possibly empty)
            self._end_chunk()
            self._state = _TRAILER

    def _end_chunk(self) -> None:
        if self.signing is None:
            return
        s = self.signing
        sts = sigv4.chunk_string_to_sign(s.stamp, s.scope, self._previous, self._sha.hexdigest())
        expected = sigv4.signature(s.key, sts)
        if not hmac.compare_digest(expected.encode(), self._chunk_signature.encode()):
            raise ChunkError(
                "SignatureDoesNotMatch",
                "The chunk signature we calculated does not match the one you provided.",
            )
        self._previous = expected
        self._sha = hashlib.sha256()

    def _end_trailer(self) -> None:
        signed: list[bytes] = []
        for line in self._trailer_lines:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ChunkError("IncompleteBody", "An aws-chunked trailer line has no colon.")
            name = name.strip().lower()
            self.trailers[name] = value.strip()
            if name != "x-amz-trailer-signature":
                signed.append(f"{name}:{value.strip()}\n".encode("latin-1"))
        if self.signing and self._trailer_lines:
            s = self.signing
            sts = sigv4.trailer_string_to_sign(s.stamp, s.scope, self._previous, b"".join(signed))
            provided = self.trailers.get("x-amz-trailer-signature", "")
            if not hmac.compare_digest(sigv4.signature(s.key, sts).encode(), provided.encode()):
                raise ChunkError(
                    "SignatureDoesNotMatch",
                    "The trailer signature we calculated does not match the one you provided.",
                )
        if self.checksum:
            carried = self.trailers.get(self.checksum.header)
            if carried is None:
                raise ChunkError(
                    "InvalidRequest", f"The trailer announced {self.checksum.header} but lacks it."
                )
            self.checksum.verify(carried)
