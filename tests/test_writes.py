"""The sliced writers: every byte lands once, in order, and no system call exceeds the slice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentbay_oss import _writes

chunk_lists = st.lists(st.binary(max_size=3000), max_size=40)


@given(chunks=chunk_lists, limit=st.integers(min_value=1, max_value=5000))
def test_slices_cover_the_chunks_in_order_within_the_limit(chunks: list[bytes], limit: int) -> None:
    groups = list(_writes.slices(chunks, limit))
    assert b"".join(b"".join(bytes(v) for v in g) for g in groups) == b"".join(chunks)
    for g in groups:
        assert 0 < sum(len(v) for v in g) <= limit
        assert len(g) <= _writes.IOV_MAX
        assert all(len(v) for v in g)  # empty chunks never reach a system call


def test_many_tiny_chunks_respect_iov_max() -> None:
    groups = list(_writes.slices([b"x"] * (_writes.IOV_MAX * 2 + 1)))
    assert [len(g) for g in groups] == [_writes.IOV_MAX, _writes.IOV_MAX, 1]


@settings(max_examples=30, deadline=None)
@given(chunks=chunk_lists, offset=st.integers(min_value=0, max_value=10_000))
def test_pwrite_all_writes_at_the_offset(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes], offset: int
) -> None:
    path = tmp_path_factory.mktemp("w") / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        _writes.pwrite_all(fd, chunks, offset)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # the file position is untouched
    finally:
        os.close(fd)
    data = b"".join(chunks)
    assert path.read_bytes() == (b"\0" * offset + data if data else b"")


def test_write_calls_never_exceed_the_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real_pwritev, real_writev = os.pwritev, os.writev

    def spy_pwritev(fd: int, bufs: list[memoryview], off: int) -> int:
        sizes.append(sum(len(b) for b in bufs))
        return real_pwritev(fd, bufs, off)

    def spy_writev(fd: int, bufs: list[memoryview]) -> int:
        sizes.append(sum(len(b) for b in bufs))
        return real_writev(fd, bufs)

    monkeypatch.setattr(os, "pwritev", spy_pwritev)
    monkeypatch.setattr(os, "writev", spy_writev)
    big = [os.urandom(3 << 20), os.urandom(1000), os.urandom(700_000)]
    fd = os.open(tmp_path / "a", os.O_WRONLY | os.O_CREAT)
    try:
        _writes.pwrite_all(fd, big, 0)
        _writes.write_all(fd, big)
    finally:
        os.close(fd)
    assert max(sizes) == _writes.WRITE_SLICE
    assert sum(sizes) == 2 * sum(map(len, big))
    assert (tmp_path / "a").read_bytes() == b"".join(big)


def test_a_short_write_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_pwritev = os.pwritev

    def short_pwritev(fd: int, bufs: list[memoryview], off: int) -> int:
        return real_pwritev(fd, [bufs[0][: max(1, len(bufs[0]) // 2)]], off)

    monkeypatch.setattr(os, "pwritev", short_pwritev)
    chunks = [b"abc" * 1000, b"defg" * 500]
    fd = os.open(tmp_path / "b", os.O_WRONLY | os.O_CREAT)
    try:
        _writes.pwrite_all(fd, chunks, 5)
    finally:
        os.close(fd)
    assert (tmp_path / "b").read_bytes() == b"\0" * 5 + b"".join(chunks)
