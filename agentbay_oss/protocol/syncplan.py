"""Sync decisions, sans-I/O: which files a sync sends, skips or deletes, and path filters.

Both sides arrive as streams sorted by relative key in UTF-8 byte order (OSS lists keys in
that order; the local walker walks in it), so `plan` merges them one entry at a time and
neither side is ever held in memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from ..errors import InvalidInputError

# "exists": the destination's copy is kept whatever it holds (cp --no-clobber); "always":
# everything is sent (cp -r --dry-run lists what cp would send).
COMPARE_MODES = ("size_mtime", "size", "checksum", "exists", "always")
MTIME_META = "mtime"  # x-oss-meta-mtime: the source file's mtime in nanoseconds
NS = 1_000_000_000


class Action(str, Enum):
    SEND = "send"  # the destination lacks it or it differs
    SKIP = "skip"  # the same on both sides
    DELETE = "delete"  # only at the destination (sent with delete=True)
    CHECK = "check"  # sizes match; the compare mode needs more than the listing tells


@dataclass(slots=True)
class Entry:
    """One side's view of a relative key. `mtime_ns` None: not known from the listing."""

    rel: str
    size: int
    mtime_ns: int | None = None
    etag: str = ""


def sort_key(rel: str) -> str:
    """The order both streams arrive in: UTF-8 bytes of the relative key (as OSS lists), as
    a str with one code point per byte. An ASCII key is its own sort key (no copy): keys of a
    million-file sync are compared a million times."""
    return rel if rel.isascii() else rel.encode("utf-8", "surrogateescape").decode("latin-1")


def decide(source: Entry | None, dest: Entry | None, compare: str) -> Action:
    """What a sync does with one relative key, from what the listings tell."""
    if source is None:
        return Action.DELETE
    if compare == "exists":
        return Action.SEND if dest is None else Action.SKIP
    if compare == "always" or dest is None or source.size != dest.size:
        return Action.SEND
    if compare == "size":
        return Action.SKIP
    return Action.CHECK


def object_is_current(file: Entry, obj: Entry) -> bool:
    """size_mtime, upload side, sizes equal: the object was written (Last-Modified, whole
    seconds) no earlier than the file last changed, so the file need not be sent again."""
    if obj.mtime_ns is None or file.mtime_ns is None:
        return False
    return file.mtime_ns // NS <= obj.mtime_ns // NS


def mtimes_match(source_ns: int, dest_ns: int | None, dest_seconds_only: bool) -> bool:
    """Nanoseconds when both sides know them; seconds when one side is an HTTP date."""
    if dest_ns is None:
        return False
    if dest_seconds_only:
        return source_ns // NS == dest_ns // NS
    return source_ns == dest_ns


def check_compare(compare: str) -> str:
    if compare not in COMPARE_MODES:
        raise InvalidInputError(
            f"unknown compare mode {compare!r}",
            hint="use 'size_mtime', 'size', 'checksum', 'exists' or 'always'",
        )
    return compare


# ---------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class PathFilter:
    """Glob patterns on the relative path ('/'-separated).

    A pattern without '/' matches the last component at any depth (`*.log`), one with '/' the
    whole path (`build/*`; `**` crosses directories: `docs/**/*.md`); a trailing '/' matches
    directories only (`node_modules/`), and an excluded directory excludes all inside it.
    Rules, in order: a path matching an include pattern is taken; else one matching an exclude
    pattern (or inside an excluded directory) is left out; else it is taken unless include
    patterns were given (then only what they match is taken). So
    `include=["*.txt"], exclude=["*"]` and `include=["*.txt"]` both mean "only .txt files".
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> PathFilter:
        for p in (*include, *exclude):
            if not isinstance(p, str) or not p:
                raise InvalidInputError(f"invalid pattern {p!r}", hint="pass glob strings")
        if isinstance(include, str) or isinstance(exclude, str):
            raise InvalidInputError("include / exclude take a list of patterns, not one string")
        return cls(tuple(include), tuple(exclude))

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)

    def __call__(self, rel: str) -> bool:
        if not (self.include or self.exclude):
            return True  # (called per file of million-file syncs: no split, no list)
        if any(_matches(p, rel, False) for p in self.include):
            return True
        parts = rel.split("/")
        dirs = ["/".join(parts[:i]) for i in range(1, len(parts))]
        for p in self.exclude:
            if _matches(p, rel, False) or any(_matches(p, d, True) for d in dirs):
                return False  # (an excluded directory excludes what is inside, as in rsync)
        return not self.include


def _matches(pattern: str, path: str, is_dir: bool) -> bool:
    """`dir/` patterns match directories only; a pattern with an inner '/' matches the whole
    path from the top, one without matches the last component at any depth."""
    if pattern.endswith("/") and not is_dir:
        return False
    pat = pattern.rstrip("/")
    if "/" in pat:
        return _compile(pat.lstrip("/")).match(path) is not None
    return _compile(pat).match(path.rsplit("/", 1)[-1]) is not None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: `*` and `?` stay within a component, `**` crosses components
    (`a/**/b` also matches `a/b`), `[...]` is a character class (`[!...]` negated)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            inner = pattern[i + 1 : end]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)
