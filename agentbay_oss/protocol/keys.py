"""Bucket and key validation, key <-> local path mapping. Sans-I/O (only path arithmetic).

Downloading a prefix maps untrusted key names to local paths: anything that could land
outside the destination (`..`, absolute names, NUL, backslash or drive tricks) is refused.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path, PurePosixPath

from ..errors import InvalidInputError, UnsafeKeyError

MAX_KEY_BYTES = 1023
# The client refuses only what no bucket name can be; 1-2 characters pass here, though OSS
# (and the local server, OSS_BUCKET_NAME below) creates only 3-63.
_BUCKET_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_bucket(name: str) -> None:
    if not isinstance(name, str) or not _BUCKET_RE.match(name):
        raise InvalidInputError(
            f"invalid bucket name {name!r}",
            hint="bucket names are up to 63 characters of lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )


# What OSS itself accepts when a bucket is created: 3-63 characters. The local server creates
# only such buckets (PutBucket, `serve --bucket`, `LocalOssServer(buckets=...)`), so that what
# works against it works against OSS.
OSS_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
OSS_BUCKET_RULE = (
    "3-63 characters of lowercase letters, digits and '-', starting and ending with a letter "
    "or digit"
)


def bucket_name_problem(name: str) -> str:
    """Why OSS would refuse to create a bucket of this name ('' when it would not)."""
    if isinstance(name, str) and OSS_BUCKET_NAME.match(name):
        return ""
    return f"{name!r} is not a bucket name OSS accepts: {OSS_BUCKET_RULE}"


def validate_key(key: str, *, allow_empty: bool = False) -> None:
    """OSS keys: UTF-8, 1-1023 bytes, not starting with '/' or '\\'; we also refuse NUL."""
    if not isinstance(key, str):
        raise InvalidInputError(f"object key must be a string, got {type(key).__name__}")
    if not key:
        if allow_empty:
            return
        raise InvalidInputError("the object key is empty", hint="pass a key such as 'dir/file.txt'")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"object key {key!r} is not valid UTF-8 text", hint="remove lone surrogate characters"
        ) from None
    if size > MAX_KEY_BYTES:
        raise InvalidInputError(
            f"object key is {size} bytes long; OSS allows at most {MAX_KEY_BYTES}",
            hint="use a shorter key",
        )
    if key[0] in "/\\":
        raise InvalidInputError(
            f"object key {key!r} starts with {key[0]!r}",
            hint="OSS keys must not start with / or \\",
        )
    if "\0" in key:
        raise InvalidInputError(
            "object key contains a NUL character", hint="remove the NUL character from the key"
        )


def join_key(prefix: str, name: str) -> str:
    """`prefix` + `name` with exactly one '/' between them ('' prefix means the bucket root)."""
    if not prefix:
        return name
    return prefix if not name else prefix.rstrip("/") + "/" + name


def upload_key(object_key: str, local: Path) -> str:
    """Key of a single file upload: `object`, or `object + basename` when it ends with '/'."""
    return object_key + local.name if object_key.endswith("/") else object_key


def dir_prefix(object_key: str) -> str:
    """Prefix a directory goes under: `object/` ('' stays the bucket root)."""
    return object_key if not object_key or object_key.endswith("/") else object_key + "/"


def relative_key(parts: tuple[str, ...]) -> str:
    """Relative key of a local relative path given as its components."""
    return "/".join(parts)


_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def key_to_relparts(key: str, prefix: str) -> tuple[str, ...]:
    """Components of the local path of `key` below `prefix`, or UnsafeKeyError.

    Returns () for the prefix's own marker. A key ending in '/' is a directory marker;
    the caller checks that with `key.endswith('/')`.
    """
    if not key.startswith(prefix):
        raise UnsafeKeyError(f"key {key!r} is not under prefix {prefix!r}")
    rel = key[len(prefix) :]
    if "\0" in rel:
        raise UnsafeKeyError(f"key {key!r} contains a NUL character; refused")
    if "\\" in rel:
        raise UnsafeKeyError(
            f"key {key!r} contains a backslash, which Windows reads as a separator; refused"
        )
    if rel.startswith("/") or _DRIVE_RE.match(rel):
        raise UnsafeKeyError(f"key {key!r} names an absolute path; refused")
    body = rel[:-1] if rel.endswith("/") else rel
    if not body:
        return ()
    parts = tuple(body.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeKeyError(
                f"key {key!r} has a {part or 'empty'!r} path component that could "
                "escape or confuse the destination; refused"
            )
    return parts


def local_path_for(root: Path, key: str, prefix: str) -> Path:
    """Where `key` lands below `root` (refuses anything that would resolve outside it)."""
    parts = key_to_relparts(key, prefix)
    target = root.joinpath(*parts) if parts else root
    # Belt and braces: lexical containment after normalisation.
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.abspath(target))
    if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafeKeyError(f"key {key!r} would land outside {root}; refused")
    return target


def key_basename(key: str) -> str:
    """Last component of a key, for a download into a directory."""
    name = posixpath.basename(key.rstrip("/"))
    if not name or name in (".", "..") or "\0" in name or "\\" in name:
        raise UnsafeKeyError(f"key {key!r} has no usable file name")
    return name


def url_basename(path: str) -> str:
    """A file name from a URL path (already unquoted), or '' if it has none."""
    name = PurePosixPath(path).name
    if name in ("", ".", "..") or "\0" in name or "\\" in name:
        return ""
    return name
