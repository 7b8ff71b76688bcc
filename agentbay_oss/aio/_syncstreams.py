"""The two sides of a sync as streams of batches sorted by key, and their merge.

A no-op sync of a million files is a million steps of this loop, so it works a batch at a
time (a walker batch, a listing page): it awaits only when a batch is used up, never per
file, and each key is encoded once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..errors import InvalidInputError, ProtocolError
from ..protocol.syncplan import NS, Entry, PathFilter, sort_key
from . import _files
from ._client import OssClient
from ._common import Outcome

L = TypeVar("L")
R = TypeVar("R")
T = TypeVar("T")
Batches = AsyncIterator[list[tuple[str, T]]]  # (relative key, value), sorted by key
MERGED_BATCH = 256  # pairs handed over at a time


@dataclass(frozen=True)
class Local:
    """A file of the local side: what the walker saw."""

    entry: Entry
    item: _files.WalkItem


@dataclass(frozen=True)
class Remote:
    entry: Entry
    key: str


@dataclass(frozen=True)
class Pair(Generic[L, R]):
    """One relative key, as the source and the destination have it (None: missing)."""

    rel: str
    source: L | None
    dest: R | None


class _Cursor(Generic[T]):
    """One side of the merge: its current item and sort key, checked to increase."""

    def __init__(self, batches: Batches[T], side: str) -> None:
        self._batches = batches
        self._side = side
        self._items: list[tuple[str, T]] = []
        self._i = 0
        self.item: tuple[str, T] | None = None
        self.key = b""

    def step(self) -> bool:
        """Move to the next item of the batch in hand; False when it is used up."""
        if self._i >= len(self._items):
            return False
        self.item = item = self._items[self._i]
        self._i += 1
        key = sort_key(item[0])
        if key <= self.key:  # (keys are never empty, so the first one passes b"")
            raise ProtocolError(
                f"the {self._side} side is not in key order at {item[0]!r}; refusing to sync",
                hint="OSS lists keys in UTF-8 byte order; is the endpoint an OSS service?",
            )
        self.key = key
        return True

    async def advance(self) -> None:
        """The next item, reading batches as needed; `item` None at the end."""
        while not self.step():
            batch = await anext(self._batches, None)
            if batch is None:
                self.item = None
                return
            self._items, self._i = batch, 0


async def merge(source: Batches[L], dest: Batches[R]) -> AsyncIterator[list[Pair[L, R]]]:
    """Pair two streams sorted by `sort_key`, in batches; a stream out of order is an error
    (a wrong pairing would send or delete the wrong files)."""
    a, b = _Cursor(source, "source"), _Cursor(dest, "destination")
    await a.advance()
    await b.advance()
    out: list[Pair[L, R]] = []
    while a.item is not None or b.item is not None:
        if len(out) >= MERGED_BATCH:
            yield out
            out = []
        x, y = a.item, b.item
        if y is None or (x is not None and a.key < b.key):
            assert x is not None
            out.append(Pair(x[0], x[1], None))
            if not a.step():
                await a.advance()
        elif x is None or b.key < a.key:
            out.append(Pair(y[0], None, y[1]))
            if not b.step():
                await b.advance()
        else:
            out.append(Pair(x[0], x[1], y[1]))
            if not a.step():
                await a.advance()
            if not b.step():
                await b.advance()
    if out:
        yield out


async def local_batches(root: str, chosen: PathFilter, outcome: Outcome) -> Batches[Local]:
    """The regular files below `root`, in key order, a walker batch at a time (nothing read
    ahead: a sync reads only what it sends); unreadable entries are failures."""
    walker = _files.TreeWalker(root, read_ahead=False)
    while batch := await asyncio.to_thread(walker.next_batch, 1000):
        out: list[tuple[str, Local]] = []
        for item in batch:
            if item.is_dir_marker:
                continue
            if item.error:
                outcome.record(item.path, InvalidInputError(item.error, hint=item.hint))
                continue
            rel = "/".join(item.rel)
            if chosen(rel):
                out.append((rel, Local(Entry(rel, item.size, item.mtime_ns), item)))
        yield out


async def remote_batches(
    client: OssClient, bucket: str, prefix: str, chosen: PathFilter
) -> Batches[Remote]:
    """The objects under `prefix`, in key order, a listing page at a time; `dir/` markers
    are not files."""
    cut = len(prefix)
    async for page in client.iter_list(bucket, prefix):
        out: list[tuple[str, Remote]] = []
        for e in page.entries:
            rel = e.key[cut:]
            if not rel or rel.endswith("/") or not chosen(rel):
                continue
            modified = int(e.last_modified.timestamp()) * NS if e.last_modified else None
            out.append((rel, Remote(Entry(rel, e.size, modified, e.etag), e.key)))
        yield out


async def nothing() -> Batches[T]:
    """No batches (the local side of a dry run into a directory that does not exist)."""
    for _ in ():
        yield []


async def refuse_empty(stream: Batches[T], filtered: bool) -> Batches[T]:
    """`stream` unchanged, but an empty one is refused before anything else happens (with
    delete=True an empty source would delete everything at the destination)."""
    async for batch in stream:
        if batch:
            yield batch
            break
    else:
        what = (
            "the source has no file the include / exclude patterns take"
            if filtered
            else ("the source is empty")
        )
        raise InvalidInputError(
            f"{what}: with delete=True the sync would delete everything at the destination",
            hint="check the source path or prefix (a typo?) and the patterns; to empty the "
            "destination, pass force=True (CLI: --force)",
        )
    async for batch in stream:
        yield batch
