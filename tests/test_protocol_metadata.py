"""protocol.metadata.source_mtime_ns: the mtime a download gives its file (pure, no I/O)."""

from __future__ import annotations

from email.utils import formatdate

from agentbay_oss.protocol.metadata import source_mtime_ns


def test_the_uploaders_mtime_wins() -> None:
    meta = {"mtime": "1700000000123456789"}
    assert source_mtime_ns(meta, "Thu, 03 Dec 2026 16:53:30 GMT") == 1700000000123456789


def test_last_modified_is_the_fallback_in_whole_seconds() -> None:
    header = formatdate(1764780810, usegmt=True)
    for meta in ({}, {"mtime": "not a number"}, {"mtime": "1" * 21}):
        assert source_mtime_ns(meta, header) == 1764780810 * 1_000_000_000
    # Asked again (the parse is cached): the same answer, and a different date its own.
    assert source_mtime_ns({}, header) == 1764780810 * 1_000_000_000
    other = formatdate(1764780811, usegmt=True)
    assert source_mtime_ns({}, other) == 1764780811 * 1_000_000_000


def test_no_usable_date_is_none() -> None:
    assert source_mtime_ns({}, "") is None
    assert source_mtime_ns({}, "yesterday") is None
    assert source_mtime_ns({}, "yesterday") is None  # a cached failure stays a failure
