from __future__ import annotations

from pathlib import Path

from agentbay_oss.checkpoint import (
    CheckpointStore,
    DownloadCheckpoint,
    PartRecord,
    UploadCheckpoint,
    download_identity,
    upload_identity,
)


def _upload_record() -> UploadCheckpoint:
    return UploadCheckpoint(
        endpoint="http://127.0.0.1:1",
        bucket="b",
        key="k",
        source_path="/tmp/src",
        source_size=300,
        source_mtime_ns=123,
        part_size=100,
        upload_id="UP",
        parts={1: PartRecord(number=1, size=100, etag='"E"', crc64=7)},
    )


def test_round_trip_and_remove(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck")
    ident = upload_identity("http://127.0.0.1:1", "b", "k", tmp_path / "src")
    assert store.load(ident, UploadCheckpoint) is None
    store.save(ident, _upload_record())
    loaded = store.load(ident, UploadCheckpoint)
    assert loaded == _upload_record()
    assert loaded.matches_source(300, 123, 100)
    assert not loaded.matches_source(301, 123, 100)
    assert not loaded.matches_source(300, 124, 100)
    store.remove(ident)
    assert store.load(ident, UploadCheckpoint) is None
    assert list((tmp_path / "ck").iterdir()) == []


def test_corrupt_or_foreign_record_is_dropped(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    ident = download_identity("e", "b", "k", tmp_path / "dst")
    store.path_for(ident).write_text("{not json")
    assert store.load(ident, DownloadCheckpoint) is None
    assert not store.path_for(ident).exists()
    store.save(ident, _upload_record())  # an upload record under a download identity
    assert store.load(ident, DownloadCheckpoint) is None


def test_download_record_matches_etag_with_or_without_quotes(tmp_path: Path) -> None:
    record = DownloadCheckpoint(
        endpoint="e", bucket="b", key="k", dest_path="d", temp_path="t",
        etag='"ABC"', size=10, range_size=5,
    )  # fmt: skip
    assert record.matches_object("ABC", 10, 5)
    assert not record.matches_object("ABD", 10, 5)
    assert "secret" not in store_name(tmp_path)


def store_name(tmp_path: Path) -> str:
    return CheckpointStore(tmp_path).path_for("upload\0e\0b\0secret-key\0/p").name
