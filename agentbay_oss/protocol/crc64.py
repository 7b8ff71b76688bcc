"""CRC-64/XZ (ECMA-182, reflected, init and xorout all ones): the `x-oss-hash-crc64ecma` checksum.

`fastcrc` computes at ~10 GB/s and releases the GIL, so hashing can run in a worker
thread beside the event loop; `anycrc` combines part CRCs without re-reading data.
"""

from __future__ import annotations

from collections.abc import Iterable

import anycrc
from fastcrc import crc64 as _fastcrc64

_MODEL = anycrc.Model("CRC64-XZ")

Buffer = bytes | bytearray | memoryview


def crc64(data: Buffer, crc: int = 0) -> int:
    """CRC of `data`, continuing from `crc` (the CRC of everything before it)."""
    if not len(data):
        return crc
    return int(_fastcrc64.xz(data, initial=crc) if crc else _fastcrc64.xz(data))


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC of A+B from crc(A), crc(B) and len(B)."""
    if len2 == 0:
        return crc1
    return int(_MODEL.combine(crc1, crc2, len2))


def crc64_combine_all(parts: Iterable[tuple[int, int]]) -> int:
    """Whole-object CRC from (crc, length) pairs in order, as OSS does for multipart."""
    total = 0
    for crc, length in parts:
        total = crc64_combine(total, crc, length)
    return total


class Crc64:
    """Streaming CRC64 accumulator."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def update(self, data: Buffer) -> None:
        self.value = crc64(data, self.value)
