"""`UPath("oss://bucket/key")` (universal-pathlib) for `OssFileSystem`: registered through the
`universal_pathlib.implementations` entry point, so upath treats `oss://` as the cloud store it
is (the bucket is the path's drive) instead of warning that it falls back to a generic path.
Only loaded by upath itself; the rest of the package never imports it."""

from __future__ import annotations

from upath.implementations.cloud import CloudPath


class OssPath(CloudPath):
    """A path on OSS: `OssPath("oss://bucket/dir/file", endpoint=..., key=..., secret=...)`,
    the keyword arguments being `OssFileSystem`'s storage options."""

    __slots__ = ()


__all__ = ["OssPath"]
