"""Part and range planning. Sans-I/O.

A multipart upload may have at most 10,000 parts, each but the last at least 100 KiB and at
most 5 GiB: the requested part size grows when a file would need more parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_PARTS = 10_000
MIN_PART_SIZE = 100 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE  # 48.8 TiB
ALIGN = 64 * 1024  # grown sizes are rounded up to this, so reads stay page aligned


@dataclass(frozen=True)
class Part:
    number: int  # 1-based
    offset: int
    size: int


def part_size_for(file_size: int, wanted: int, max_parts: int = MAX_PARTS) -> int:
    """The part size to use: `wanted`, grown (aligned) if the file would need > max_parts."""
    if file_size < 0:
        raise ValueError("file size must not be negative")
    if max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    size = max(wanted, MIN_PART_SIZE)
    if file_size > size * max_parts:
        needed = -(-file_size // max_parts)
        size = -(-needed // ALIGN) * ALIGN
    if size > MAX_PART_SIZE:
        raise ValueError(
            f"a file of {file_size} bytes needs parts over 5 GiB; OSS objects are at most "
            f"{MAX_OBJECT_SIZE} bytes"
        )
    return size


def part_count(file_size: int, part_size: int) -> int:
    """Parts of a multipart upload; an empty file still has one (empty) part."""
    return max(1, -(-file_size // part_size))


def plan_parts(file_size: int, part_size: int) -> Iterator[Part]:
    """Parts in order, lazily (a 48 TiB file is only 10,000 tuples, but why build them)."""
    count = part_count(file_size, part_size)
    for i in range(count):
        offset = i * part_size
        yield Part(i + 1, offset, min(part_size, file_size - offset))


def plan_ranges(size: int, range_size: int) -> list[tuple[int, int]]:
    """(offset, length) pieces covering `size` bytes; [] for an empty object."""
    if range_size <= 0:
        raise ValueError("range size must be positive")
    return [(off, min(range_size, size - off)) for off in range(0, size, range_size)]


def range_header(offset: int, length: int) -> str:
    """The Range header value for `length` bytes at `offset` (inclusive end)."""
    return f"bytes={offset}-{offset + length - 1}"


def parse_content_range(value: str) -> tuple[int, int, int | None]:
    """`bytes a-b/total` -> (a, b, total or None for `*`)."""
    unit, _, rest = value.strip().partition(" ")
    if unit != "bytes" or "/" not in rest:
        raise ValueError(f"bad Content-Range {value!r}")
    span, _, total = rest.partition("/")
    first, _, last = span.partition("-")
    return int(first), int(last), (None if total == "*" else int(total))
