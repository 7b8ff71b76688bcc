from __future__ import annotations

import os

import oss2.utils
import pytest

from agentbay_oss.protocol.crc64 import Crc64, crc64, crc64_combine, crc64_combine_all


def _reference(data: bytes) -> int:
    ref = oss2.utils.Crc64()
    ref.update(data)
    return int(ref.crc)


@pytest.mark.parametrize("size", [0, 1, 7, 4096, 1 << 20])
def test_crc64_matches_oss2(size: int) -> None:
    data = os.urandom(size)
    assert crc64(data) == _reference(data)


def test_streaming_and_combine_agree() -> None:
    chunks = [os.urandom(n) for n in (100, 0, 65_536, 3)]
    whole = b"".join(chunks)
    acc = Crc64()
    for chunk in chunks:
        acc.update(memoryview(chunk))
    assert acc.value == crc64(whole)
    assert crc64_combine_all((crc64(c), len(c)) for c in chunks) == crc64(whole)
    assert crc64_combine(crc64(chunks[0]), crc64(chunks[2]), len(chunks[2])) == crc64(
        chunks[0] + chunks[2]
    )
    assert crc64(whole) != crc64(whole[:-1] + bytes([whole[-1] ^ 1]))
