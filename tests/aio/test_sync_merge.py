"""The sync's merge of two key-sorted streams (no I/O): pairs, and refusal of a bad order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agentbay_oss.aio._syncstreams import merge
from agentbay_oss.errors import ProtocolError


async def _stream(rels: list[str], size: int) -> AsyncIterator[list[tuple[str, str]]]:
    """`rels` in batches of `size`, with an empty batch between (a filtered-out page)."""
    for i in range(0, len(rels), size):
        yield [(rel, rel.upper()) for rel in rels[i : i + size]]
        yield []


def _pairs(
    src: list[str], dst: list[str], size: int = 1
) -> list[tuple[str, str | None, str | None]]:
    async def go() -> list[tuple[str, str | None, str | None]]:
        merged = merge(_stream(src, size), _stream(dst, size))
        return [(p.rel, p.source, p.dest) async for batch in merged for p in batch]

    return asyncio.run(go())


def test_pairs_by_utf8_byte_order() -> None:
    got = _pairs(["a-b", "a/x", "\u00e9"], ["a/x", "b", "\u00e9", "\u00e9z"])
    assert got == [
        ("a-b", "A-B", None),
        ("a/x", "A/X", "A/X"),
        ("b", None, "B"),
        ("\u00e9", "\u00c9", "\u00c9"),
        ("\u00e9z", None, "\u00c9Z"),
    ]
    assert _pairs(["a-b", "a/x", "\u00e9"], ["a/x", "b", "\u00e9", "\u00e9z"], 3) == got
    many = [f"k{i:04}" for i in range(600)]  # more than one handed-over batch
    assert _pairs(many, many[::2], 7) == [
        (k, k.upper(), k.upper() if i % 2 == 0 else None) for i, k in enumerate(many)
    ]
    assert _pairs([], []) == []
    assert _pairs(["x"], []) == [("x", "X", None)]


@pytest.mark.parametrize(
    ("src", "dst", "side"),
    [
        (["b", "a"], [], "source"),
        ([], ["a", "a"], "destination"),
        (["a"], ["c", "b"], "destination"),
    ],
)
def test_a_stream_out_of_order_is_refused(src: list[str], dst: list[str], side: str) -> None:
    with pytest.raises(ProtocolError, match=f"the {side} side is not in key order"):
        _pairs(src, dst)


def test_undecodable_names_sort_by_their_bytes() -> None:
    # A name the file system gave as bytes (surrogateescape) sorts by those bytes, as OSS
    # lists: "\udcff" is the byte 0xFF, after every UTF-8 sequence (code point order would
    # put it before "\uffff", and call the stream out of order).
    keys = ["a", "\u00e9", "\uffff", "\U0010ffff", "\udcff"]
    assert _pairs(keys, keys[1:], 2) == [
        (k, k.upper(), None if k == "a" else k.upper()) for k in keys
    ]
    with pytest.raises(ProtocolError, match="source side is not in key order"):
        _pairs(["\udcff", "\uffff"], [])
