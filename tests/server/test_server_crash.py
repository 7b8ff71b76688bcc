"""`kill -9` of `serve` during 50 concurrent uploads (single PUT and multipart, by oss2), then a
restart on the same root: what was acknowledged is intact, nothing partial is visible,
multipart uploads in progress are listed and can be completed or aborted, and the metadata
store passes its own integrity check (Storage.check_integrity)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import oss2
import pytest
from oss2.models import PartInfo

from agentbay_oss.protocol.crc64 import crc64
from agentbay_oss.server.storage import IntegrityReport, Storage

WORKERS = 50
PART = 128 * 1024  # every part but the last >= 100 KiB (OSS's rule, enforced by the server)
AUTH = oss2.Auth("CRASHAK", "CRASHSK")


@dataclass
class Upload:
    """One multipart upload: what was sent, and what the server acknowledged."""

    key: str
    upload_id: str
    parts: dict[int, bytes] = field(default_factory=dict)  # sent (acknowledged or not)
    acked: dict[int, str] = field(default_factory=dict)  # number -> ETag
    completing: bool = False


@dataclass
class Journal:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, bytes] = field(default_factory=dict)  # key -> its whole intended bytes
    acked: set[str] = field(default_factory=set)  # keys whose PUT / Complete answered 200
    uploads: dict[str, Upload] = field(default_factory=dict)  # upload id -> its journal


def _serve(root: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "AGENTBAY_OSS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentbay_oss.server", "--root", str(root), "--bucket", "crash",
         "--access-key-id", "CRASHAK", "--access-key-secret", "CRASHSK"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()[2]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "root"


def _worker(i: int, endpoint: str, journal: Journal, stop: threading.Event) -> None:
    bucket = oss2.Bucket(AUTH, endpoint, "crash", connect_timeout=5)
    rng = random.Random(i)
    for j in range(1000):
        if stop.is_set():
            return
        key = f"{'mp' if i % 2 else 'put'}/{i:02d}/{j:03d}"
        try:
            if i % 2 == 0:
                # Inline (<= 64 KiB, bytes in the SQLite row) and blob-backed objects.
                data = os.urandom(rng.choice((3000, 40 * 1024, 300 * 1024)))
                with journal.lock:
                    journal.sent[key] = data
                bucket.put_object(key, data)
                with journal.lock:
                    journal.acked.add(key)
            else:
                parts = [os.urandom(PART), os.urandom(PART), os.urandom(rng.randint(1, PART))]
                upload_id = bucket.init_multipart_upload(key).upload_id
                up = Upload(key, upload_id)
                with journal.lock:
                    journal.uploads[upload_id] = up
                    journal.sent[key] = b"".join(parts)
                for n, data in enumerate(parts, 1):
                    with journal.lock:
                        up.parts[n] = data
                    etag = bucket.upload_part(key, upload_id, n, data).etag
                    with journal.lock:
                        up.acked[n] = etag
                with journal.lock:
                    up.completing = True
                infos = [PartInfo(n, up.acked[n]) for n in sorted(up.acked)]
                bucket.complete_multipart_upload(key, upload_id, infos)
                with journal.lock:
                    journal.acked.add(key)
        except (oss2.exceptions.RequestError, oss2.exceptions.ServerError):
            return  # the server is gone


def _check_store(root: Path) -> IntegrityReport:
    """Open the root as a restart does (WAL replay, orphans dropped) and check it, deeply."""
    store = Storage(root)
    try:
        report = store.check_integrity(deep=True)
    finally:
        store.close()
    assert report.ok, report.problems
    return report


def _crc(bucket: oss2.Bucket, key: str) -> tuple[int, int]:
    """(CRC-64 of the bytes read, CRC-64 the server announced)."""
    got = bucket.get_object(key)
    return crc64(got.read()), int(got.headers["x-oss-hash-crc64ecma"])


def test_kill_9_during_uploads_then_restart(root: Path) -> None:
    proc, endpoint = _serve(root)
    journal, stop = Journal(), threading.Event()
    workers = [
        threading.Thread(target=_worker, args=(i, endpoint, journal, stop)) for i in range(WORKERS)
    ]
    for w in workers:
        w.start()
    try:
        # Kill once plenty was acknowledged, with uploads of both kinds under way.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with journal.lock:
                parts_acked = sum(len(u.acked) for u in journal.uploads.values())
                if len(journal.acked) >= 25 and parts_acked >= 25:
                    break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=120)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.communicate()
    with journal.lock:
        in_flight = set(journal.sent) - journal.acked
        unfinished = [u for u in journal.uploads.values() if u.key not in journal.acked]
    assert len(journal.acked) >= 25, "the server died before the test got going"
    assert in_flight and unfinished, "nothing was in flight at the kill: the test proved nothing"

    # Recovery as the restart does it (WAL replay, orphan blobs and temp files dropped), then
    # the store's own check, bytes included.
    _check_store(root)

    proc, endpoint = _serve(root)
    try:
        bucket = oss2.Bucket(AUTH, endpoint, "crash")
        listed = {o.key for o in oss2.ObjectIterator(bucket)}
        # Every acknowledged object is there, byte-exact (CRC-64 of what was sent).
        assert journal.acked <= listed, sorted(journal.acked - listed)[:5]
        for key in sorted(listed):
            # Nothing that was not acknowledged, unless it is exactly what was sent.
            assert key in journal.sent, f"{key}: an object nobody sent"
            want = crc64(journal.sent[key])
            assert _crc(bucket, key) == (want, want), f"{key}: not the bytes sent"
        # Multipart uploads in progress are listed, with the parts acknowledged (and maybe a
        # part that was in flight, byte-exact); they can be completed or aborted.
        pending = {u.upload_id: u for u in oss2.MultipartUploadIterator(bucket)}
        for up in unfinished:
            if up.key in listed:  # its Complete was in flight and took effect
                assert up.completing and up.upload_id not in pending
                continue
            assert up.upload_id in pending, f"{up.key}: upload {up.upload_id} not listed"
        completed = 0
        for upload_id, info in sorted(pending.items()):
            up_or_none = journal.uploads.get(upload_id)
            if up_or_none is None:  # its Initiate was in flight: the id never reached us
                bucket.abort_multipart_upload(info.key, upload_id)
                continue
            up = up_or_none
            parts = list(oss2.PartIterator(bucket, up.key, upload_id))
            numbers = [p.part_number for p in parts]
            assert set(up.acked) <= set(numbers), (up.key, up.acked, numbers)
            for p in parts:
                want_etag = hashlib.md5(up.parts[p.part_number]).hexdigest().upper()
                assert p.etag.strip('"').upper() == want_etag and p.size == len(
                    up.parts[p.part_number]
                )
            if completed % 2 == 0 and parts and numbers == list(range(1, len(numbers) + 1)):
                bucket.complete_multipart_upload(
                    up.key, upload_id, [PartInfo(p.part_number, p.etag) for p in parts]
                )
                want = crc64(b"".join(up.parts[n] for n in numbers))
                assert _crc(bucket, up.key) == (want, want)
            else:
                bucket.abort_multipart_upload(up.key, upload_id)
                assert not bucket.object_exists(up.key)
            completed += 1
        assert completed >= 1
        assert list(oss2.MultipartUploadIterator(bucket)) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    report = _check_store(root)
    assert report.uploads == 0 and report.parts == 0 and report.objects >= len(journal.acked)


def test_the_integrity_check_finds_what_is_broken(tmp_path: Path) -> None:
    """The check is not a rubber stamp: each kind of damage is reported."""
    from agentbay_oss.server import LocalOssServer

    with LocalOssServer(root=tmp_path, buckets=("chk",)) as srv:
        b = oss2.Bucket(oss2.Auth("AK", "SK"), srv.endpoint, "chk")
        b.put_object("inline", b"small")
        b.put_object("blob", os.urandom(200 * 1024))
        b.put_object("flipped", os.urandom(200 * 1024))
        up = b.init_multipart_upload("pending").upload_id
        b.upload_part("pending", up, 1, os.urandom(PART))
        clean = srv.check_integrity(deep=True)  # from this thread, run on the server's loop
        assert clean.ok and (clean.objects, clean.uploads, clean.parts, clean.blobs) == (3, 1, 1, 3)
    store = Storage(tmp_path)
    try:
        blob_of = {}
        for key in ("blob", "flipped"):
            rec = store.get_object("chk", key, data=False)
            assert rec is not None
            blob_of[key] = rec.segments[0][0]
        store.blob_path(blob_of["blob"]).unlink()
        flipped = store.blob_path(blob_of["flipped"])
        data = bytearray(flipped.read_bytes())
        data[7] ^= 0xFF
        flipped.write_bytes(bytes(data))
        (part_blob,) = [p.blob for p in store.list_parts(up)]
        with open(store.blob_path(part_blob), "ab") as f:
            f.write(b"x")
        store.blob_path("ab" * 16).write_bytes(b"stray")
        store.db.execute("DELETE FROM uploads")
        shallow = store.check_integrity()
        deep = store.check_integrity(deep=True)
    finally:
        store.close()
    text = "\n".join(shallow.problems)
    assert f"object chk/blob: blob {blob_of['blob']} is missing" in text
    assert f"part 1 of upload {up}: no such upload" in text
    assert f"has {PART + 1} bytes, the row says {PART}" in text
    assert f"blob {'ab' * 16}: named by no row" in text
    assert "CRC-64" not in text and len(shallow.problems) == 4
    flip = "object chk/flipped: CRC-64 of the bytes differs from the recorded one"
    assert deep.problems == [shallow.problems[0], flip, *shallow.problems[1:]]
