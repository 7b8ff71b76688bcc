"""Blocking file operations, each meant for ONE worker-thread hop (asyncio.to_thread).

Every function does all its syscalls plus the CRC64 / MD5 of the bytes in the same call:
fastcrc and hashlib release the GIL, so hashing runs beside the event loop.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import itertools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._writes import pwrite_all
from ..errors import IntegrityError, InvalidInputError, LocalFileError, SourceChangedError
from ..protocol.crc64 import crc64

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class SourceInfo:
    size: int
    mtime_ns: int


def _regular(st: os.stat_result, path: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{path} is a directory where a file was expected")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "FIFO"
            if stat.S_ISFIFO(st.st_mode)
            else "socket"
            if stat.S_ISSOCK(st.st_mode)
            else "device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "special file"
        )
        raise InvalidInputError(
            f"{path} is a {kind}, not a regular file", hint="upload regular files only"
        )


def stat_source(path: str) -> tuple[bool, SourceInfo]:
    """(is_dir, info) of an upload source, following symlinks."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        return True, SourceInfo(0, st.st_mtime_ns)
    _regular(st, path)
    return False, SourceInfo(st.st_size, st.st_mtime_ns)


def read_whole(path: str, expect: SourceInfo | None) -> tuple[bytes, str, int, SourceInfo]:
    """(data, base64 MD5, CRC64, info) of a small file, checking it did not change."""
    fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_BINARY)
    try:
        st = os.fstat(fd)
        _regular(st, path)
        info = SourceInfo(st.st_size, st.st_mtime_ns)
        if expect is not None and info != expect:
            raise SourceChangedError(
                f"{path} changed while it was being uploaded", hint="retry when it is stable"
            )
        chunks = []
        left = info.size
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        st2 = os.fstat(fd)
        if left or os.read(fd, 1) or (st2.st_size, st2.st_mtime_ns) != (info.size, info.mtime_ns):
            raise SourceChangedError(
                f"{path} changed size while it was being read", hint="retry when it is stable"
            )
    finally:
        os.close(fd)
    return data, md5_base64(data), crc64(data), info


def md5_base64(data: bytes | memoryview) -> str:
    """The Content-MD5 header value of `data`."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def open_source(path: str) -> tuple[int, SourceInfo]:
    fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_BINARY)
    try:
        st = os.fstat(fd)
        _regular(st, path)
    except BaseException:
        os.close(fd)
        raise
    return fd, SourceInfo(st.st_size, st.st_mtime_ns)


def read_part(fd: int, offset: int, size: int, path: str) -> tuple[bytes, int]:
    """(bytes, CRC64) of `size` bytes at `offset`; a short read means the file shrank."""
    data = os.pread(fd, size, offset)
    if len(data) < size:
        chunks = [data]
        got = len(data)
        while got < size:
            more = os.pread(fd, size - got, offset + got)
            if not more:
                raise SourceChangedError(
                    f"{path} became shorter while it was being uploaded",
                    hint="retry when it is stable",
                )
            chunks.append(more)
            got += len(more)
        data = b"".join(chunks)
    return data, crc64(data)


def read_part_into(fd: int, buf: bytearray, offset: int, size: int, path: str) -> int:
    """Fill buf[:size] from `offset` (no allocation: the buffer is reused); returns the CRC64."""
    view = memoryview(buf)[:size]
    got = 0
    while got < size:
        n = os.preadv(fd, [view[got:]], offset + got)
        if n <= 0:
            raise SourceChangedError(
                f"{path} became shorter while it was being uploaded",
                hint="retry when it is stable",
            )
        got += n
    return crc64(view)


def fstat_info(fd: int) -> SourceInfo:
    st = os.fstat(fd)
    return SourceInfo(st.st_size, st.st_mtime_ns)


_temp_counter = itertools.count()


def temp_name(dest: Path) -> Path:
    # pid + counter: unique without a getrandom call per file; O_EXCL settles any clash.
    return dest.with_name(f".{dest.name}.agentbay-{os.getpid()}-{next(_temp_counter)}.part")


def _explain_parent(dest: Path) -> None:
    """Create the parent directories of `dest`, or say which path component is in the way."""
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None
        )
        if blocker is None:
            raise
        raise LocalFileError(
            f"cannot create directory {parent}: {blocker} is a file, not a directory",
            hint="move that file away or download somewhere else",
        ) from None


def _dest_is_dir(dest: Path) -> LocalFileError:
    return LocalFileError(
        f"{dest} is an existing directory",
        hint="download into it by passing the directory path ending with a separator",
    )


def _open_temp(dest: Path) -> tuple[int, Path]:
    """Create a new temp file beside `dest`. The parent is made only when missing, so the
    common case (a directory that exists) costs one open() and no stat or mkdir."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
    for _ in range(100):
        tmp = temp_name(dest)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue  # a leftover of a killed process with the same pid: take the next name
        except (FileNotFoundError, NotADirectoryError):
            _explain_parent(dest)
    raise LocalFileError(f"cannot create a temp file beside {dest}")


def create_temp(dest: Path, size: int) -> tuple[int, Path]:
    """A preallocated temp file beside `dest` (same filesystem, so os.replace is atomic)."""
    if dest.is_dir():  # say so before fetching anything big
        raise _dest_is_dir(dest)
    fd, tmp = _open_temp(dest)
    try:
        if size:
            try:
                os.posix_fallocate(fd, 0, size)  # ENOSPC now rather than mid-transfer
            except (AttributeError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (95, 22):  # EOPNOTSUPP, EINVAL
                    raise
                os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return fd, tmp


def write_chunks(fd: int, chunks: Sequence[bytes], offset: int, crc: int) -> int:
    """pwritev `chunks` at `offset`; returns the CRC continued over them."""
    pwrite_all(fd, chunks, offset)
    for c in chunks:
        crc = crc64(c, crc)
    return crc


def finish_temp(fd: int, tmp: Path, dest: Path, mtime_ns: int | None = None) -> None:
    """Close the temp file (its times set to `mtime_ns` when known) and rename it over dest."""
    try:
        if mtime_ns is not None:
            os.utime(fd, ns=(mtime_ns, mtime_ns))
    finally:
        os.close(fd)
    try:
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def discard_temp(fd: int | None, tmp: Path) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_small(
    dest: Path,
    chunks: Sequence[bytes],
    expect_crc: int | None,
    what: str,
    mtime_ns: int | None = None,
) -> int:
    """Check the CRC, then write a temp file and rename it over `dest`. Returns the CRC."""
    crc = 0
    for c in chunks:
        crc = crc64(c, crc)
    if expect_crc is not None and crc != expect_crc:
        raise IntegrityError(
            f"CRC64 mismatch downloading {what}: got {crc}, server said {expect_crc}"
        )
    fd, tmp = _open_temp(dest)
    try:
        pwrite_all(fd, chunks, 0)
    except BaseException:
        discard_temp(fd, tmp)
        raise
    try:
        finish_temp(fd, tmp, dest, mtime_ns)  # closes fd; removes the temp if the rename fails
    except IsADirectoryError:
        raise _dest_is_dir(dest) from None
    return crc


def dest_kind(dest: Path) -> tuple[str, Path]:
    """How a single download lands on `dest`: ("file", path) for a regular file or a new one
    (a symlink is followed: its target is replaced, the link kept), ("stream", path) for a
    character device or FIFO (written into, never replaced). Other kinds are refused."""
    if dest.is_symlink():
        dest = Path(os.path.realpath(dest))
    try:
        st = os.stat(dest)
    except (FileNotFoundError, NotADirectoryError):
        return "file", dest  # (a missing parent is made, or explained, with the temp file)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "stream", dest
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return "file", dest
    kind = "socket" if stat.S_ISSOCK(st.st_mode) else "block device"
    raise LocalFileError(
        f"{dest} is a {kind}; refusing to write a download into it",
        hint="download to a regular file, a character device or a FIFO",
    )


def open_stream_dest(path: Path) -> int:
    """Open a character device or FIFO for writing (blocks until a FIFO has a reader)."""
    return os.open(path, os.O_WRONLY | _O_CLOEXEC | _O_BINARY)


def write_all(fd: int, chunks: Sequence[bytes]) -> None:
    """Write `chunks` in order to a stream (pipe, device): short writes continued."""
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def make_dirs(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise LocalFileError(f"{path} exists and is not a directory", hint="move it away")
    path.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------- tree walking


def read_ahead(items: Sequence[WalkItem]) -> None:
    """Read the small files among `items` (in one worker-thread hop), within the byte budget.
    A file that cannot be read, or changed since the walk, is left for its upload to read
    again and report."""
    budget = PREFETCH_BUDGET
    for item in items:
        if item.error or item.is_dir_marker or not 0 < item.size <= min(PREFETCH_MAX, budget):
            continue
        try:
            data, md5, crc, _ = read_whole(item.path, SourceInfo(item.size, item.mtime_ns))
        except (OSError, InvalidInputError, LocalFileError):
            continue  # read again when its turn comes, which reports the problem properly
        item.body = SmallBody(data, md5, crc)
        budget -= item.size


def _walk_error(exc: OSError) -> tuple[str, str]:
    """(error, hint) for an entry of an upload tree that cannot be read."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)", "fix or remove the link"
    if exc.errno == errno.ENOENT:
        return "broken symbolic link (its target does not exist)", "fix or remove the link"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read it: {exc.strerror}", "check file permissions"
    return exc.strerror or str(exc), ""


# Small files are read by the walker, in the thread hop that lists them: for 10,000 x 4 KiB
# files a hop per file cost more CPU than reading the file. Bounded per batch. A sync walks
# without it and reads, in batches, only the files it decided to send.
PREFETCH_MAX = 64 * 1024
PREFETCH_BUDGET = 2 * 1024 * 1024


@dataclass(frozen=True)
class SmallBody:
    """A small file's bytes, read and checked against the walker's stat."""

    data: bytes
    md5: str  # base64, for Content-MD5
    crc: int


@dataclass
class WalkItem:
    path: str
    rel: tuple[str, ...]
    size: int = 0
    mtime_ns: int = 0
    is_dir_marker: bool = False
    error: str = ""
    hint: str = ""  # what to do about `error`
    body: SmallBody | None = None  # read ahead by the walker (small files only)


class TreeWalker:
    """Walks a directory tree in batches (call next_batch from a worker thread).

    Items come in the order of their relative keys' UTF-8 bytes, the order OSS lists keys
    in, so a sync can merge the walk with a listing without holding either (siblings sort by
    name, a directory as `name/`). Memory: the sorted entries of one directory per level.
    Symlinked files are followed, symlinked directories are not (no loops); directories
    without entries become markers.
    """

    def __init__(self, root: str, read_ahead: bool = True) -> None:
        self._root = root
        self._read_ahead = read_ahead  # off for a sync: it reads only the files it sends
        self._frames: list[list[tuple[str, tuple[str, ...], bool]]] = []  # reversed: pop()
        self._started = False

    def next_batch(self, limit: int = 512) -> list[WalkItem]:
        out: list[WalkItem] = []
        if not self._started:
            self._started = True
            self._open_dir(self._root, (), out)
        while len(out) < limit and self._frames:
            frame = self._frames[-1]
            if not frame:
                self._frames.pop()
                continue
            path, rel, is_dir = frame.pop()
            if is_dir:
                self._open_dir(path, rel, out)
            else:
                out.append(_file_item(path, rel))
        if self._read_ahead:
            read_ahead(out)
        return out

    def _open_dir(self, directory: str, rel: tuple[str, ...], out: list[WalkItem]) -> None:
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            out.append(
                WalkItem(
                    directory,
                    rel,
                    error=f"cannot list the directory: {exc.strerror}",
                    hint="check its permissions",
                )
            )
            return
        if not entries:
            out.append(WalkItem(directory, rel, is_dir_marker=True))
            return
        frame: list[tuple[str, tuple[str, ...], bool]] = []
        for e in entries:
            try:
                is_dir = e.is_dir(follow_symlinks=False)
                if not is_dir and e.is_symlink() and e.is_dir():
                    continue  # symlinked directory: not followed
            except OSError:
                is_dir = False  # reported when stat'ed as a file
            frame.append((e.path, (*rel, e.name), is_dir))
        frame.sort(key=_walk_order, reverse=True)
        self._frames.append(frame)


def _walk_order(entry: tuple[str, tuple[str, ...], bool]) -> bytes:
    name = entry[1][-1].encode("utf-8", "surrogateescape")
    return name + b"/" if entry[2] else name


def _file_item(path: str, rel: tuple[str, ...]) -> WalkItem:
    try:
        st = os.stat(path)
    except OSError as exc:
        error, hint = _walk_error(exc)
        return WalkItem(path, rel, error=error, hint=hint)
    if stat.S_ISREG(st.st_mode):
        return WalkItem(path, rel, st.st_size, st.st_mtime_ns)
    return WalkItem(
        path,
        rel,
        error="not a regular file (a FIFO, socket or device)",
        hint="only regular files are uploaded; move it out of the tree",
    )
