"""The two sides of a sync as streams of batches sorted by key, and their merge.

A no-op sync of a million files is a million steps of this loop, so it works a batch at a
time (a walker batch, a listing page): it awaits only when a batch is used up, never per
file, and each key's sort key is made once. The records made per key are slotted
dataclasses (not frozen: a frozen one costs four times as much to make).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(slots=True)
class Local:
    """A file of the local side: what the walker saw."""

    entry: Entry
    item: _files.WalkItem


@dataclass(slots=True)
class Remote:
    entry: Entry
    key: str


@dataclass(slots=True)
class Pair(Generic[L, R]):
    """One relative key, as the source and the destination have it (None: missing)."""

    rel: str
    source: L | None
    dest: R | None


class _Side(Generic[T]):
    """One stream of the merge: the batch in hand, its sort keys, and where the merge is in
    it. Every batch is checked to continue the key order as it arrives."""

    def __init__(self, batches: Batches[T], side: str) -> None:
        self._batches = batches
        self._side = side
        self.items: list[tuple[str, T]] = []
        self.keys: list[str] = []
        self.i = 0
        self.done = False
        self._last = ""  # (keys are never empty, so the first one passes "")

    async def refill(self) -> None:
        """The next non-empty batch (`done` at the end of the stream)."""
        while self.i >= len(self.items) and not self.done:
            batch = await anext(self._batches, None)
            if batch is None:
                self.done = True
                return
            keys = [sort_key(rel) for rel, _ in batch]
            for before, key, item in zip([self._last, *keys], keys, batch, strict=False):
                if key <= before:
                    raise ProtocolError(
                        f"the {self._side} side is not in key order at {item[0]!r}; refusing "
                        "to sync",
                        hint="OSS lists keys in UTF-8 byte order; is the endpoint an OSS service?",
                    )
            if keys:
                self._last = keys[-1]
            self.items, self.keys, self.i = batch, keys, 0


def _pair_up(a: _Side[L], b: _Side[R], out: list[Pair[L, R]]) -> None:
    """Pair the batches in hand until one of them is used up (or, a stream ended, until the
    other batch is), in one plain loop: per key, a comparison and an append."""
    ai, bi, ak, bk, av, bv = a.i, b.i, a.keys, b.keys, a.items, b.items
    na, nb = len(ak), len(bk)
    append = out.append
    while ai < na and bi < nb:
        x, y = ak[ai], bk[bi]
        if x < y:
            rel, value = av[ai]
            append(Pair(rel, value, None))
            ai += 1
        elif y < x:
            rel, other = bv[bi]
            append(Pair(rel, None, other))
            bi += 1
        else:
            rel, value = av[ai]
            append(Pair(rel, value, bv[bi][1]))
            ai += 1
            bi += 1
    if b.done:
        out += [Pair(rel, value, None) for rel, value in av[ai:]]
        ai = na
    if a.done:
        out += [Pair(rel, None, other) for rel, other in bv[bi:]]
        bi = nb
    a.i, b.i = ai, bi


async def merge(source: Batches[L], dest: Batches[R]) -> AsyncIterator[list[Pair[L, R]]]:
    """Pair two streams sorted by `sort_key`, a batch at a time; a stream out of order is an
    error (a wrong pairing would send or delete the wrong files)."""
    a, b = _Side(source, "source"), _Side(dest, "destination")
    while True:
        await a.refill()
        await b.refill()
        if a.done and b.done:
            return
        out: list[Pair[L, R]] = []
        _pair_up(a, b, out)
        if out:
            yield out


async def local_batches(root: str, chosen: PathFilter, outcome: Outcome) -> Batches[Local]:
    """The regular files below `root`, in key order, a walker batch at a time (nothing read
    ahead: a sync reads only what it sends); unreadable entries are failures."""
    walker = _files.TreeWalker(root, read_ahead=False)
    # The walker's next batch is made (in its thread, its stat calls free of the GIL) while
    # this one is merged: one batch ahead, so memory stays one batch.
    ahead = asyncio.ensure_future(asyncio.to_thread(walker.next_batch, 1000))
    try:
        while batch := await ahead:
            ahead = asyncio.ensure_future(asyncio.to_thread(walker.next_batch, 1000))
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
    finally:
        if not ahead.done():
            ahead.cancel()  # (the thread finishes its batch; nothing reads the walker after)
        elif not ahead.cancelled():
            ahead.exception()  # a batch nobody will use: its failure is nobody's either


async def remote_batches(
    client: OssClient, bucket: str, prefix: str, chosen: PathFilter
) -> Batches[Remote]:
    """The objects under `prefix`, in key order, a listing page at a time; `dir/` markers
    are not files."""
    cut = len(prefix)
    async for page in client.iter_list(bucket, prefix):
        out: list[tuple[str, Remote]] = []
        # The objects of a page mostly share a few Last-Modified seconds (the parser hands
        # out one datetime per second): each is converted once.
        in_ns: dict[datetime, int] = {}
        for e in page.entries:
            rel = e.key[cut:]
            if not rel or rel.endswith("/") or not chosen(rel):
                continue
            when = e.last_modified
            modified = None
            if when is not None:
                modified = in_ns.get(when)
                if modified is None:
                    modified = in_ns[when] = int(when.timestamp()) * NS
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
