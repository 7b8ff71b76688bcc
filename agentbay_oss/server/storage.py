"""Durable object store: blob files under `root/blobs`, metadata in SQLite (WAL).

Keys never map to paths: every blob is named by a uuid, so `p/a`, `p/a/b` and
`d/` coexist. A blob is written under `root/tmp` and moved into `blobs/` with
os.replace only when complete; it becomes visible when its metadata row
commits, so a dropped connection or a crash never shows a half object. Every
blob belongs to exactly one row (object or part); a multipart object keeps its
part blobs as segments (no copy at Complete), and CopyObject hard-links.

Small objects (at most INLINE_MAX bytes, sent with a Content-Length) keep their
bytes in their own row (`data`) and have no blob: creating a file costs the
kernel more than everything else in a small PUT (ext4 inode allocation), and a
row commits atomically with its bytes, so the visibility rule above still holds.

All methods are synchronous and quick (SQLite in WAL mode with
synchronous=NORMAL: no fsync per commit); the server calls them on its event
loop thread only. Bulk data work (hashing, writing, unlinking) happens elsewhere.

The SQLite file gives space back: it runs with incremental auto-vacuum (a database made
before that is rebuilt once, by VACUUM, when opened), and `maintain()`, which the server
calls periodically, returns free pages to the filesystem and checkpoints the write-ahead
log, truncating it; `journal_size_limit` bounds the log between those calls too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..protocol.crc64 import crc64

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    crc TEXT NOT NULL, mtime REAL NOT NULL, content_type TEXT NOT NULL, headers TEXT NOT NULL,
    otype TEXT NOT NULL, segments TEXT NOT NULL, data BLOB, PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
    initiated REAL NOT NULL, headers TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, initiated);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, crc TEXT NOT NULL, mtime REAL NOT NULL, PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
"""

Segment = tuple[str, int]  # (blob name, size)

INLINE_MAX = 64 * 1024  # objects up to this size live in their metadata row (no blob file)
# Every column but `data`: listings never read object bytes.
_META = "bucket, key, size, etag, crc, mtime, content_type, headers, otype, segments"


@dataclass
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes, upper-case hex (plus "-N" for multipart)
    crc: int
    mtime: float
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)  # x-oss-meta-*, Cache-Control, ...
    otype: str = "Normal"
    segments: list[Segment] = field(default_factory=list)
    data: bytes | None = None  # the bytes of an inline object (then `segments` is empty)


@dataclass
class UploadRecord:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    headers: dict[str, str]


@dataclass
class PartRecord:
    upload_id: str
    number: int
    blob: str
    size: int
    etag: str
    crc: int
    mtime: float


@dataclass
class IntegrityReport:
    """What `Storage.check_integrity` found: counts, and one line per problem (none: sound)."""

    objects: int = 0
    uploads: int = 0
    parts: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class ListedObject(NamedTuple):
    """What a listing says of an object: read without its headers' JSON or its bytes (a
    listing of 1,000 keys builds 1,000 of these)."""

    key: str
    size: int
    etag: str
    mtime: float
    otype: str
    storage_class: str


@dataclass
class Listing:
    contents: list[ListedObject]
    prefixes: list[str]
    truncated: bool
    next_marker: str


def _object(row: tuple[Any, ...]) -> ObjectRecord:
    """A row of `_META` columns, optionally followed by `data`."""
    headers = {} if row[7] == "{}" else json.loads(row[7])  # most have none: skip the parser
    segments = [] if row[9] == "[]" else [(b, s) for b, s in json.loads(row[9])]
    return ObjectRecord(
        row[0], row[1], row[2], row[3], int(row[4]), row[5], row[6], headers,
        row[8], segments, row[10] if len(row) > 10 else None,
    )  # fmt: skip


def _storage_class(headers: str) -> str:
    return str(json.loads(headers).get("x-oss-storage-class", "Standard"))


def _object_row(rec: ObjectRecord) -> tuple[Any, ...]:
    return (
        rec.bucket, rec.key, rec.size, rec.etag, str(rec.crc), rec.mtime, rec.content_type,
        json.dumps(rec.headers) if rec.headers else "{}", rec.otype,
        json.dumps(rec.segments) if rec.segments else "[]", rec.data,
    )  # fmt: skip


def _part(row: sqlite3.Row) -> PartRecord:
    return PartRecord(
        row["upload_id"],
        row["number"],
        row["blob"],
        row["size"],
        row["etag"],
        int(row["crc"]),
        row["mtime"],
    )


_GET_META = f"SELECT {_META} FROM objects WHERE bucket=? AND key=?"
_GET_WITH_DATA = f"SELECT {_META}, data FROM objects WHERE bucket=? AND key=?"
_GET_SEGMENTS = "SELECT segments FROM objects WHERE bucket=? AND key=?"
_LISTED = (
    "SELECT key, size, etag, mtime, otype,"
    # The headers only when they name a storage class: the one header a listing tells.
    " CASE WHEN instr(headers, 'x-oss-storage-class') THEN headers ELSE '' END"
    " FROM objects WHERE bucket=? AND key {} ? ORDER BY key LIMIT ?"
)
_LIST_GE, _LIST_GT = _LISTED.format(">="), _LISTED.format(">")
_PUT = f"INSERT OR REPLACE INTO objects ({_META}, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)"

# The write-ahead log is truncated to this size whenever a checkpoint resets it; between
# checkpoints it grows by at most SQLite's auto-checkpoint (1,000 pages) plus one transaction.
WAL_LIMIT = 16 * 1024 * 1024
# Free pages returned to the filesystem per maintain() (it runs on the event loop: bounded),
# in rounds, each followed by a checkpoint: one round's moved pages (4 MiB) are one
# transaction in the log, which must stay well under WAL_LIMIT.
VACUUM_PAGES_PER_ROUND = 1024
VACUUM_ROUNDS = 4

# Rows a delimited listing reads at a time: it may jump past a common prefix after the first.
DELIMITED_CHUNK = 100
# Every key that starts with P sorts below P + this (UTF-8 order equals code point order).
_TOP = "\U0010ffff"


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        # Leftovers of writes cut off by a crash: never visible, safe to drop.
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for i in range(256):
            (self.blobs / f"{i:02x}").mkdir(exist_ok=True)
        self.db = sqlite3.connect(
            root / "meta.sqlite3", isolation_level=None, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        # Only takes effect before the first table exists (a new root); see _migrate_vacuum.
        self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        # Reads of inline objects through a memory map: no pread() per page.
        self.db.execute("PRAGMA mmap_size=1073741824")
        self.db.executescript(SCHEMA)
        columns = [r[1] for r in self.db.execute("PRAGMA table_info(objects)")]
        if "data" not in columns:  # a root written before objects could be inline
            self.db.execute("ALTER TABLE objects ADD COLUMN data BLOB")
        self._migrate_vacuum()
        # Bucket names, cached: every request checks its bucket, and only this object writes them.
        self._buckets = {r[0] for r in self.db.execute("SELECT name FROM buckets")}
        self._drop_orphans()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ space

    def _migrate_vacuum(self) -> None:
        """A database made before incremental auto-vacuum: switch it on, rebuilding once."""
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self.db.execute("VACUUM")

    def maintain(self) -> None:
        """Give free pages back (bounded work) and checkpoint the log, truncating it."""
        for _ in range(VACUUM_ROUNDS):
            if not self.db.execute("PRAGMA freelist_count").fetchone()[0]:
                break
            # executescript steps it to the end: execute() would free one page (it has no
            # result columns, so the sqlite3 module stops after the first step).
            self.db.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES_PER_ROUND});")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    # ------------------------------------------------------------------ blobs

    def new_temp(self) -> Path:
        return self.tmp / uuid.uuid4().hex

    def blob_path(self, name: str) -> Path:
        return self.blobs / name[:2] / name

    def commit_blob(self, temp: Path) -> str:
        """Move a finished temp file into the blob store; returns its name."""
        name = uuid.uuid4().hex
        os.replace(temp, self.blob_path(name))
        return name

    def write_blob(self, data: bytes) -> str:
        """A new blob holding `data` (small: written on the calling thread)."""
        temp = self.new_temp()
        with open(temp, "wb") as f:
            f.write(data)
        return self.commit_blob(temp)

    def link_blob(self, name: str) -> str:
        """A second name for an immutable blob (CopyObject), so each row owns its blobs."""
        new = uuid.uuid4().hex
        try:
            os.link(self.blob_path(name), self.blob_path(new))
        except OSError:  # filesystems without hard links
            shutil.copyfile(self.blob_path(name), self.blob_path(new))
        return new

    def remove_blobs(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.blob_path(name))

    def _drop_orphans(self) -> None:
        """Blobs no row refers to (a crash between rename and commit) are removed at start."""
        known: set[str] = set()
        for row in self.db.execute("SELECT segments FROM objects"):
            known.update(b for b, _ in json.loads(row[0]))
        known.update(r[0] for r in self.db.execute("SELECT blob FROM parts"))
        for sub in self.blobs.iterdir():
            if sub.is_dir():
                for path in sub.iterdir():
                    if path.name not in known:
                        path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ integrity

    def check_integrity(self, deep: bool = False) -> IntegrityReport:
        """SQLite's own `integrity_check`, then rows against blob files: every blob a row names
        exists with the recorded size and belongs to that row only, sizes add up, parts belong
        to an upload, objects and uploads to a bucket, and no blob file is left unreferenced
        (true of a quiet store: an upload in flight holds a blob its row does not name yet).
        `deep` also recomputes every object's CRC-64 (reads all bytes).
        """
        report = IntegrityReport()
        problems = report.problems
        checked = self.db.execute("PRAGMA integrity_check").fetchall()
        if [r[0] for r in checked] != ["ok"]:
            problems.extend(f"sqlite: {r[0]}" for r in checked)
        owner: dict[str, str] = {}  # blob -> the row naming it

        def claim(blob: str, size: int, row: str) -> None:
            if blob in owner:
                problems.append(f"{row}: blob {blob} is also named by {owner[blob]}")
            owner[blob] = row
            try:
                actual = self.blob_path(blob).stat().st_size
            except FileNotFoundError:
                problems.append(f"{row}: blob {blob} is missing")
                return
            if actual != size:
                problems.append(f"{row}: blob {blob} has {actual} bytes, the row says {size}")

        for row in self.db.execute(f"SELECT {_META}, data FROM objects"):
            rec = _object(row)
            report.objects += 1
            name = f"object {rec.bucket}/{rec.key}"
            if rec.bucket not in self._buckets:
                problems.append(f"{name}: no such bucket")
            if rec.data is not None:
                if rec.segments or len(rec.data) != rec.size:
                    problems.append(f"{name}: inline bytes do not match size {rec.size}")
            elif sum(size for _, size in rec.segments) != rec.size:
                problems.append(f"{name}: segments do not add up to size {rec.size}")
            before = len(problems)
            for blob, size in rec.segments:
                claim(blob, size, name)
            # Bytes already reported missing or cut need no CRC to say so again.
            if deep and len(problems) == before and self._object_crc(rec) != rec.crc:
                problems.append(f"{name}: CRC-64 of the bytes differs from the recorded one")
        uploads = {r[0]: r[1] for r in self.db.execute("SELECT upload_id, bucket FROM uploads")}
        report.uploads = len(uploads)
        for upload_id, bucket in uploads.items():
            if bucket not in self._buckets:
                problems.append(f"upload {upload_id}: no such bucket {bucket}")
        for part_row in self.db.execute("SELECT * FROM parts"):
            part = _part(part_row)
            report.parts += 1
            name = f"part {part.number} of upload {part.upload_id}"
            if part.upload_id not in uploads:
                problems.append(f"{name}: no such upload")
            claim(part.blob, part.size, name)
        for sub in self.blobs.iterdir():
            for path in sub.iterdir() if sub.is_dir() else ():
                report.blobs += 1
                if path.name not in owner:
                    problems.append(f"blob {path.name}: named by no row")
        return report

    def _object_crc(self, rec: ObjectRecord) -> int:
        if rec.data is not None:
            return crc64(rec.data)
        crc = 0
        for blob, _ in rec.segments:
            with open(self.blob_path(blob), "rb") as f:
                while chunk := f.read(1 << 20):
                    crc = crc64(chunk, crc)
        return crc

    # ------------------------------------------------------------------ buckets

    def bucket_exists(self, name: str) -> bool:
        return name in self._buckets

    def create_bucket(self, name: str) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO buckets (name, created) VALUES (?, ?)", (name, time.time())
        )
        self._buckets.add(name)
        return cur.rowcount == 1

    def bucket_is_empty(self, name: str) -> bool:
        obj = self.db.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone()
        up = self.db.execute("SELECT 1 FROM uploads WHERE bucket=? LIMIT 1", (name,)).fetchone()
        return obj is None and up is None

    def delete_bucket(self, name: str) -> None:
        self.db.execute("DELETE FROM buckets WHERE name=?", (name,))
        self._buckets.discard(name)

    def list_buckets(self, prefix: str = "") -> list[tuple[str, float]]:
        rows = self.db.execute("SELECT name, created FROM buckets ORDER BY name").fetchall()
        return [(r[0], r[1]) for r in rows if r[0].startswith(prefix)]

    # ------------------------------------------------------------------ objects

    def get_object(self, bucket: str, key: str, data: bool = True) -> ObjectRecord | None:
        """The object's record; with `data`, also the bytes of an inline object."""
        sql = _GET_WITH_DATA if data else _GET_META
        row = self.db.execute(sql, (bucket, key)).fetchone()
        return None if row is None else _object(row)

    def _old_blobs(self, bucket: str, key: str) -> list[str] | None:
        """The blobs of the current object (None: no object), without reading its bytes."""
        row = self.db.execute(_GET_SEGMENTS, (bucket, key)).fetchone()
        return None if row is None else [b for b, _ in json.loads(row[0])]

    def put_object(self, rec: ObjectRecord) -> list[str]:
        """Insert or replace; returns the blobs of the replaced object (caller removes them).

        No explicit transaction: the one INSERT is atomic by itself, and nothing can change the
        row between the two statements (one thread, this connection, is the only writer).
        """
        old = self._old_blobs(rec.bucket, rec.key)
        self.db.execute(_PUT, _object_row(rec))
        return old or []

    def set_headers(self, bucket: str, key: str, headers: dict[str, str]) -> None:
        """Replace an object's stored headers (its tags), leaving its bytes and times alone."""
        self.db.execute(
            "UPDATE objects SET headers=? WHERE bucket=? AND key=?",
            (json.dumps(headers), bucket, key),
        )

    def delete_object(self, bucket: str, key: str) -> list[str]:
        old = self._old_blobs(bucket, key)
        if old is None:
            return []
        self.db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
        return old

    def _listed_from(
        self, bucket: str, start: str, inclusive: bool, limit: int
    ) -> list[ListedObject]:
        """Up to `limit` objects from `start` on, in key order, in one query."""
        cur = self.db.cursor()
        cur.row_factory = None  # plain tuples: a listing reads a million rows of a big bucket
        rows = cur.execute(_LIST_GE if inclusive else _LIST_GT, (bucket, start, limit)).fetchall()
        return [
            ListedObject(k, s, e, m, o, _storage_class(h) if h else "Standard")
            for k, s, e, m, o, h in rows
        ]

    def list_objects(
        self, bucket: str, prefix: str, after: str, delimiter: str, max_keys: int
    ) -> Listing:
        """Keys > `after` under `prefix`, rolled up at `delimiter`, at most `max_keys` entries."""
        out = Listing([], [], False, "")
        if after >= prefix:
            start, inclusive = after, False
        else:
            start, inclusive = prefix, True
        while True:
            # One entry more than fits tells whether the listing is truncated; with a
            # delimiter a chunk may end at the first common prefix, so it reads less at once.
            limit = max_keys - len(out.contents) - len(out.prefixes) + 1
            if delimiter:
                limit = min(limit, DELIMITED_CHUNK)
            chunk = self._listed_from(bucket, start, inclusive, limit)
            for obj in chunk:
                key = obj.key
                if not key.startswith(prefix):
                    return out
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        cp = key[: cut + len(delimiter)]
                        if cp != after and (not out.prefixes or out.prefixes[-1] != cp):
                            if len(out.contents) + len(out.prefixes) >= max_keys:
                                out.truncated = True
                                return out
                            out.prefixes.append(cp)
                            out.next_marker = cp
                        # Skip the rest of this common prefix in one query.
                        jump = cp + _TOP
                        if key >= jump:  # a key beyond the jump point: step past it
                            start, inclusive = key, False
                        else:
                            start, inclusive = jump, True
                        break
                if len(out.contents) + len(out.prefixes) >= max_keys:
                    out.truncated = True
                    return out
                out.contents.append(obj)
                out.next_marker = key
            else:
                if len(chunk) < limit:
                    return out
                start, inclusive = chunk[-1].key, False

    # ------------------------------------------------------------------ multipart

    def create_upload(self, bucket: str, key: str, headers: dict[str, str]) -> UploadRecord:
        rec = UploadRecord(uuid.uuid4().hex.upper(), bucket, key, time.time(), headers)
        self.db.execute(
            "INSERT INTO uploads VALUES (?,?,?,?,?)",
            (rec.upload_id, bucket, key, rec.initiated, json.dumps(headers)),
        )
        return rec

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        row = self.db.execute("SELECT * FROM uploads WHERE upload_id=?", (upload_id,)).fetchone()
        if row is None:
            return None
        return UploadRecord(
            row["upload_id"],
            row["bucket"],
            row["key"],
            row["initiated"],
            json.loads(row["headers"]),
        )

    def list_uploads(self, bucket: str) -> list[UploadRecord]:
        rows = self.db.execute(
            "SELECT * FROM uploads WHERE bucket=? ORDER BY key, upload_id", (bucket,)
        ).fetchall()
        return [
            UploadRecord(
                r["upload_id"], r["bucket"], r["key"], r["initiated"], json.loads(r["headers"])
            )
            for r in rows
        ]

    def put_part(self, part: PartRecord) -> list[str]:
        """Record a part (replacing one with the same number); returns blobs to remove."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.get_upload(part.upload_id) is None:
                self.db.execute("ROLLBACK")
                return [part.blob]  # aborted or completed meanwhile: drop the new blob
            old = self.db.execute(
                "SELECT blob FROM parts WHERE upload_id=? AND number=?",
                (part.upload_id, part.number),
            ).fetchone()
            self.db.execute(
                "INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?,?)",
                (
                    part.upload_id,
                    part.number,
                    part.blob,
                    part.size,
                    part.etag,
                    str(part.crc),
                    part.mtime,
                ),
            )
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        return [] if old is None else [old[0]]

    def list_parts(self, upload_id: str, after: int = 0, limit: int = 10_001) -> list[PartRecord]:
        rows = self.db.execute(
            "SELECT * FROM parts WHERE upload_id=? AND number>? ORDER BY number LIMIT ?",
            (upload_id, after, limit),
        ).fetchall()
        return [_part(r) for r in rows]

    def finish_upload(self, upload_id: str, rec: ObjectRecord | None, used: set[int]) -> list[str]:
        """Complete (rec given) or abort (rec None) an upload in one transaction.

        Returns the blobs to remove: unused parts, and the replaced object's blobs.
        """
        self.db.execute("BEGIN IMMEDIATE")
        try:
            parts = self.list_parts(upload_id)
            garbage = [p.blob for p in parts if p.number not in used]
            if rec is not None:
                garbage += self._old_blobs(rec.bucket, rec.key) or []
                self.db.execute(_PUT, _object_row(rec))
            self.db.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            self.db.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return garbage
