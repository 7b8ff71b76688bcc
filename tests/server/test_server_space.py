"""The SQLite file holding small objects gives space back after deletes, and its write-ahead
log stays bounded (storage.py: incremental auto-vacuum, journal_size_limit, maintain())."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import oss2

from agentbay_oss.server import LocalOssServer
from agentbay_oss.server.storage import SCHEMA, WAL_LIMIT

COUNT = 300
SIZE = 60 * 1024  # inline: each object's bytes live in its SQLite row


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _wait_for(predicate: object, timeout: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_deletes_shrink_the_file_and_the_log_stays_bounded(tmp_path: Path) -> None:
    db, wal = tmp_path / "meta.sqlite3", tmp_path / "meta.sqlite3-wal"
    biggest_wal = 0
    sampling = True

    def sample() -> None:
        nonlocal biggest_wal
        while sampling:
            biggest_wal = max(biggest_wal, _size(wal))
            time.sleep(0.005)

    with LocalOssServer(root=tmp_path, buckets=("space",), maintenance_interval=0.2) as srv:
        bucket = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "space")
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            payload = os.urandom(SIZE)  # incompressible, not that SQLite compresses
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: bucket.put_object(f"o/{i:04d}", payload), range(COUNT)))
            peak = _size(db) + _size(wal)
            assert peak > COUNT * SIZE  # the bytes are in the database (not blob files)
            keys = [f"o/{i:04d}" for i in range(COUNT)]
            for start in range(0, COUNT, 1000):
                bucket.batch_delete_objects(keys[start : start + 1000])
            # The periodic maintenance returns the pages and truncates the log.
            assert _wait_for(lambda: _size(db) < peak // 4 and _size(wal) == 0, 10), (
                peak, _size(db), _size(wal),
            )  # fmt: skip
        finally:
            sampling = False
            sampler.join()
        assert biggest_wal <= WAL_LIMIT, biggest_wal
        # What is left still works.
        bucket.put_object("after", b"still here")
        assert bucket.get_object("after").read() == b"still here"
        assert [o.key for o in oss2.ObjectIterator(bucket)] == ["after"]


def test_a_database_made_without_auto_vacuum_is_migrated(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "meta.sqlite3")
    old.executescript(SCHEMA)
    old.execute("INSERT INTO buckets VALUES ('kept-bucket', 0)")
    old.commit()
    assert old.execute("PRAGMA auto_vacuum").fetchone()[0] == 0  # SQLite's default: none
    old.close()
    with LocalOssServer(root=tmp_path) as srv:
        bucket = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "kept-bucket")
        bucket.put_object("k", b"v")
        check = sqlite3.connect(tmp_path / "meta.sqlite3")
        try:
            assert check.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        finally:
            check.close()
        assert bucket.get_object("k").read() == b"v"
