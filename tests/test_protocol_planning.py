from __future__ import annotations

import pytest

from agentbay_oss.protocol import planning
from agentbay_oss.protocol.planning import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    parse_content_range,
    part_count,
    part_size_for,
    plan_parts,
    plan_ranges,
    range_header,
)

MiB = 1024 * 1024
GiB = 1024 * MiB


def test_part_size_kept_when_it_fits() -> None:
    assert part_size_for(100 * MiB, 8 * MiB) == 8 * MiB
    assert part_size_for(8 * MiB * MAX_PARTS, 8 * MiB) == 8 * MiB


def test_part_size_never_below_oss_minimum() -> None:
    assert part_size_for(10, 1) == MIN_PART_SIZE


@pytest.mark.parametrize(
    "size", [8 * MiB * MAX_PARTS + 1, 100 * GiB, 1024 * GiB, 48 * 1024 * GiB, 123_456_789_012]
)
def test_part_size_grows_to_stay_within_limit(size: int) -> None:
    ps = part_size_for(size, 8 * MiB)
    assert ps > 8 * MiB
    assert part_count(size, ps) <= MAX_PARTS
    assert ps % planning.ALIGN == 0
    parts = list(plan_parts(size, ps))
    assert len(parts) <= MAX_PARTS
    assert sum(p.size for p in parts) == size
    assert all(p.size == ps for p in parts[:-1]) and 0 < parts[-1].size <= ps


def test_too_big_for_oss_refused() -> None:
    with pytest.raises(ValueError, match="5 GiB"):
        part_size_for(MAX_PART_SIZE * MAX_PARTS + 1, 8 * MiB)


def test_lower_max_parts_knob() -> None:
    ps = part_size_for(10 * MiB, MIN_PART_SIZE, max_parts=3)
    assert part_count(10 * MiB, ps) <= 3


@pytest.mark.parametrize(
    ("size", "ps", "expect"),
    [(0, 100, [(1, 0, 0)]), (1, 100, [(1, 0, 1)]), (100, 100, [(1, 0, 100)]),
     (101, 100, [(1, 0, 100), (2, 100, 1)]), (250, 100, [(1, 0, 100), (2, 100, 100), (3, 200, 50)])],
)  # fmt: skip
def test_plan_parts_edges(size: int, ps: int, expect: list[tuple[int, int, int]]) -> None:
    assert [(p.number, p.offset, p.size) for p in plan_parts(size, ps)] == expect


def test_plan_ranges() -> None:
    assert plan_ranges(0, 10) == []
    assert plan_ranges(10, 10) == [(0, 10)]
    assert plan_ranges(25, 10) == [(0, 10), (10, 10), (20, 5)]
    with pytest.raises(ValueError):
        plan_ranges(5, 0)


def test_range_header_and_content_range() -> None:
    assert range_header(10, 5) == "bytes=10-14"
    assert parse_content_range("bytes 10-14/100") == (10, 14, 100)
    assert parse_content_range("bytes 0-0/*") == (0, 0, None)
    for bad in ("", "items 1-2/3", "bytes 1-2"):
        with pytest.raises(ValueError):
            parse_content_range(bad)
