"""The plain data a batch is made of, and what a worker reports back (all picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OssError
from ..models import TransferredObject


@dataclass(frozen=True)
class UpItem:
    """A local file (or an empty directory's `key/` marker) to PUT as one object."""

    key: str
    path: str
    size: int
    mtime_ns: int
    headers: dict[str, str] | None = None
    marker: bool = False


@dataclass(frozen=True)
class DownItem:
    """An object (or a `dir/` marker) to GET into the file `dest`."""

    key: str
    dest: str
    size: int
    etag: str = ""
    marker: bool = False


@dataclass(frozen=True)
class CopyItem:
    src_key: str
    dst_key: str
    size: int


@dataclass(frozen=True)
class Span:
    """Part `number` of a split file: `size` bytes at `offset` (a download range has no
    number: 0)."""

    offset: int
    size: int
    number: int = 0


@dataclass
class Report:
    """One batch's outcome: the objects done, failures counted (the first few kept)."""

    objects: list[TransferredObject] = field(default_factory=list)
    failed: int = 0
    errors: list[tuple[str, OssError]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)
