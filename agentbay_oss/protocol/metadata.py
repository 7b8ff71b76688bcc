"""Object headers an upload sends: Content-Type and user metadata (x-oss-meta-*). Sans-I/O."""

from __future__ import annotations

import functools
import mimetypes
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ..errors import InvalidInputError

META_PREFIX = "x-oss-meta-"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_METADATA_BYTES = 8 * 1024  # OSS: all user metadata of an object together


def guess_content_type(key: str) -> str:
    """From the key's suffix, as `mimetypes` does; unknown suffixes get the OSS default."""
    guessed, _ = mimetypes.guess_type(key.rsplit("/", 1)[-1], strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


def object_headers(
    key: str, content_type: str | None, metadata: Mapping[str, str] | None
) -> dict[str, str]:
    """Headers of PutObject / InitiateMultipartUpload. Bad names or values are refused here,
    before any byte moves (header values must be printable ASCII)."""
    ctype = guess_content_type(key) if content_type is None else content_type
    if not isinstance(ctype, str) or not _printable_ascii(ctype) or not ctype:
        raise InvalidInputError(f"invalid content_type {ctype!r}", hint="e.g. 'text/plain'")
    headers = {"Content-Type": ctype}
    total = 0
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInputError(
                f"invalid metadata name {name!r}",
                hint="use letters, digits, '-', '_' and '.' (sent as x-oss-meta-<name>)",
            )
        if not isinstance(value, str) or not _printable_ascii(value, allow_empty=True):
            raise InvalidInputError(
                f"metadata {name!r} must be a printable ASCII string",
                hint="encode other text first (for example with urllib.parse.quote)",
            )
        total += len(name) + len(value)
        headers[META_PREFIX + name.lower()] = value
    if total > MAX_METADATA_BYTES:
        raise InvalidInputError(f"user metadata is {total} bytes; OSS allows 8 KiB in all")
    return headers


MTIME = "mtime"  # x-oss-meta-mtime: the source file's mtime, integer nanoseconds


def source_mtime_ns(metadata: Mapping[str, str], last_modified: str) -> int | None:
    """x-oss-meta-mtime when it is a valid integer; else Last-Modified (whole seconds)."""
    raw = metadata.get(MTIME, "")
    if raw.isdigit() and len(raw) <= 20:
        return int(raw)
    return _http_date_ns(last_modified) if last_modified else None


@functools.lru_cache(maxsize=256)
def _http_date_ns(text: str) -> int | None:
    """A Last-Modified header in ns (None: not a date). Cached: a listing's objects share a
    few seconds, and parsing one costs more than the rest of a small download's metadata."""
    try:
        return int(parsedate_to_datetime(text).timestamp()) * 1_000_000_000
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _printable_ascii(text: str, allow_empty: bool = False) -> bool:
    # For ASCII, isprintable() is exactly " " <= c <= "~"; two C calls instead of a Python
    # loop over the characters of every upload's Content-Type.
    return (allow_empty or bool(text)) and text.isascii() and text.isprintable()
