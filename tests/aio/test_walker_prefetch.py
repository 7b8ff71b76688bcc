"""The directory walker reads small files ahead, within its byte budget, and never hides errors."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from agentbay_oss.aio import _files
from agentbay_oss.protocol.crc64 import crc64


def _tree(root: Path, sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))


def test_small_files_come_with_their_bytes_md5_and_crc(tmp_path: Path) -> None:
    _tree(
        tmp_path, {"a.txt": 10, "sub/b.bin": 4096, "big.bin": _files.PREFETCH_MAX + 1, "empty": 0}
    )
    items = {"/".join(i.rel): i for i in _files.TreeWalker(str(tmp_path)).next_batch()}
    for name in ("a.txt", "sub/b.bin"):
        body = items[name].body
        data = (tmp_path / name).read_bytes()
        assert body is not None and body.data == data
        assert body.md5 == base64.b64encode(hashlib.md5(data).digest()).decode()
        assert body.crc == crc64(data)
    assert items["big.bin"].body is None  # read in chunks when its turn comes
    assert items["empty"].body is None


def test_prefetch_stops_at_the_batch_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "PREFETCH_BUDGET", 10_000)
    _tree(tmp_path, {f"f{i:02}": 4000 for i in range(6)})
    batch = _files.TreeWalker(str(tmp_path)).next_batch()
    assert [i.body is not None for i in batch] == [True, True, False, False, False, False]


def test_a_file_that_cannot_be_read_is_left_for_the_upload_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Root reads any file whatever its mode, so the refusal is simulated here; the upload's
    # own report of unreadable files is in tests/reliability.)
    real = _files.read_whole

    def refuse(path: str, expect: _files.SourceInfo | None) -> object:
        if path.endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real(path, expect)

    monkeypatch.setattr(_files, "read_whole", refuse)
    _tree(tmp_path, {"ok": 5, "locked": 5})
    items = {i.rel[-1]: i for i in _files.TreeWalker(str(tmp_path)).next_batch()}
    assert items["ok"].body is not None
    assert items["locked"].body is None and not items["locked"].error


def test_walk_order_is_the_listing_order(tmp_path: Path) -> None:
    """Relative keys come out sorted by UTF-8 bytes, as OSS lists them ('a-b' < 'a/x')."""
    for rel in ["a/x", "a-b", "a0", "b/c/d", "b/c!", "é", "z/", "A"]:
        p = tmp_path / rel
        if rel.endswith("/"):
            p.mkdir(parents=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x")
    walker = _files.TreeWalker(str(tmp_path))
    keys = []
    while batch := walker.next_batch(3):  # small batches: the order holds across them
        keys += ["/".join(i.rel) + ("/" if i.is_dir_marker else "") for i in batch]
    assert keys == sorted(keys, key=lambda k: k.encode())
    assert keys == ["A", "a-b", "a/x", "a0", "b/c!", "b/c/d", "z/", "é"]


def test_without_read_ahead_nothing_is_read_until_asked(tmp_path: Path) -> None:
    """A sync walks without reading: only the files it then hands to read_ahead are read."""
    _tree(tmp_path, {"a": 10, "b": 20, "c": 30})
    batch = _files.TreeWalker(str(tmp_path), read_ahead=False).next_batch()
    assert [i.body for i in batch] == [None, None, None]
    (tmp_path / "c").write_bytes(b"changed after the walk")  # its stat no longer matches
    _files.read_ahead([batch[1], batch[2]])
    assert batch[0].body is None  # not asked for
    assert batch[1].body is not None and batch[1].body.data == (tmp_path / "b").read_bytes()
    assert batch[2].body is None  # left for the upload, which reports the change
