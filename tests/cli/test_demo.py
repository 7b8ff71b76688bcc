"""The demo: a small round trip in process, and its verifier catching a mismatch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agentbay_oss.demo import make_sample_tree, run_demo, verify


def test_demo_round_trip_is_green(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(big_mib=1, as_json=True) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["problems"] == []
    assert summary["upload"]["files"] == summary["download"]["files"] == summary["files"]
    assert summary["upload"]["bytes"] == summary["download"]["bytes"] == summary["bytes"]


def test_verify_reports_every_kind_of_difference(tmp_path: Path) -> None:
    tree = make_sample_tree(tmp_path / "src", big_mib=0)
    copy = tmp_path / "copy"
    shutil.copytree(tree.root, copy)
    assert verify(tree, copy) == []

    flipped = copy / "docs" / "guide.md"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    (copy / "README.txt").unlink()
    (copy / "empty-dir").rmdir()
    (copy / "extra.txt").write_text("not in the source")
    problems = verify(tree, copy)
    assert "docs/guide.md: CRC-64 differs" in problems
    assert "missing after the round trip: README.txt" in problems
    assert "empty directory not restored: empty-dir" in problems
    assert "unexpected file: extra.txt" in problems
    assert len(problems) == 4
