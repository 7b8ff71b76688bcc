"""Transfers under injected faults: 503s, dropped connections, flipped bytes, wrong CRC headers,
throttling. Results are byte-exact (CRC64 checked) or reported; bad data is never kept."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import (
    PART,
    PATIENT,
    QUICK,
    KiB,
    MiB,
    file_crc,
    leftovers,
    oss_session,
    peer_bucket,
    remote_state,
    run,
    seed_for,
    write_file,
)

from agentbay_oss.aio import TransferConfig, TransferredObject
from agentbay_oss.errors import IntegrityError
from agentbay_oss.server import FaultConfig, LocalOssServer

RUNS = 10
BIG = 256 * MiB
FILES = 2000
# 5% 503s and 2% dropped connections, reproducible.
FAULTS = {"fail_rate": 0.05, "reset_rate": 0.02}
BIG_CONFIG = TransferConfig(
    part_size=8 * MiB,
    multipart_threshold=16 * MiB,
    concurrency=8,
    max_retries=10,
    backoff_base=0.01,
    backoff_max=0.05,
)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    write_file(path, BIG, seed=3)
    yield path, file_crc(path)
    path.unlink()


def test_256mib_round_trip_under_faults_10_runs(
    creds: Any, bucket: str, oss_server: LocalOssServer, big_file: tuple[Path, int], tmp_path: Path
) -> None:
    src, crc = big_file
    dest = tmp_path / "big.out"
    oss_server.faults = FaultConfig(seed=6, **FAULTS)
    oss_server.stats.reset()

    async def main() -> None:
        async with oss_session(creds, BIG_CONFIG) as oss:
            for i in range(RUNS):
                up = await oss.upload(bucket, f"big-{i % 2}", str(src))
                assert up.success, f"run {i}: {up.error_message}"
                assert up.objects[0].crc64 == crc
                down = await oss.download(bucket, f"big-{i % 2}", str(dest))
                assert down.success, f"run {i}: {down.error_message}"
                assert down.objects[0].crc64 == crc and down.bytes == BIG
                assert file_crc(dest) == crc, f"run {i}: the downloaded bytes differ"
                dest.unlink()

    run(main())
    faults = oss_server.stats.faults
    assert faults["fail"] > 0 and faults["reset"] > 0, faults  # the faults really happened
    assert remote_state(peer_bucket(creds, bucket))[1] == []  # no multipart upload left
    assert leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many") / "tree"
    rng = random.Random(5)
    for i in range(FILES):
        path = root / f"d{i % 40:02d}" / f"s{i % 7}" / f"file-{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randrange(0, 3 * KiB)))
    (root / "empty-dir").mkdir()
    return root


def _tree(root: Path) -> dict[str, int | None]:
    """Relative path -> CRC64 (None for a directory)."""
    return {
        p.relative_to(root).as_posix(): (None if p.is_dir() else file_crc(p))
        for p in sorted(root.rglob("*"))
    }


def test_2000_file_round_trip_under_faults_10_runs(
    creds: Any, bucket: str, oss_server: LocalOssServer, many_files: Path, tmp_path: Path
) -> None:
    expected = _tree(many_files)
    assert len([v for v in expected.values() if v is not None]) == FILES
    oss_server.faults = FaultConfig(seed=7, **FAULTS)
    oss_server.stats.reset()

    async def main() -> None:
        async with oss_session(creds, PATIENT.model_copy(update={"concurrency": 16})) as oss:
            for i in range(RUNS):
                up = await oss.upload(bucket, f"run{i}", str(many_files))
                assert up.success, f"run {i}: {up.error_message}"
                assert up.files == FILES
                dest = tmp_path / f"run{i}"
                got: list[TransferredObject] = []
                down = await oss.download(bucket, f"run{i}/", str(dest), on_object=got.append)
                assert down.success, f"run {i}: {down.error_message}"
                assert down.files == FILES and down.objects == []  # counts, not a list
                assert _tree(dest) == expected, f"run {i}: the tree differs"
                assert len([o for o in got if not o.key.endswith("/")]) == FILES
                for obj in got:
                    assert obj.key.endswith("/") or obj.crc64 is not None

    run(main())
    faults = oss_server.stats.faults
    assert faults["fail"] > 0 and faults["reset"] > 0, faults


# ---------------------------------------------------------------------------- wrong data

SERIAL = PATIENT.model_copy(update={"concurrency": 1})  # one request at a time: seeded = exact


@pytest.mark.parametrize("size", [3000, 2 * PART + 5, 3 * PART], ids=["single", "ranged", "big"])
@pytest.mark.parametrize("fault", ["corrupt_rate", "bad_crc_rate"])
def test_wrong_data_is_detected_and_retried(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path, size: int, fault: str
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, size, seed=9)
    crc = file_crc(src)
    dest = tmp_path / "dest.bin"

    async def main() -> None:
        async with oss_session(creds, SERIAL) as oss:
            assert (await oss.upload(bucket, "obj", str(src))).success
            oss_server.faults = FaultConfig(seed=11, **{fault: 0.3})
            oss_server.stats.reset()
            for i in range(3):
                # bad_crc also hits PUT / UploadPart replies: the upload must retry too.
                up = await oss.upload(bucket, f"obj{i}", str(src))
                assert up.success, up.error_message
                down = await oss.download(bucket, "obj", str(dest))
                assert down.success, down.error_message
                assert file_crc(dest) == crc
            oss_server.faults = FaultConfig()

    run(main())
    kind = fault.removesuffix("_rate")
    assert oss_server.stats.faults[kind] > 0  # it did happen, and it was retried
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("size", [3000, 3 * PART], ids=["single", "ranged"])
@pytest.mark.parametrize("fault", ["corrupt_rate", "bad_crc_rate"])
def test_persistent_wrong_data_is_reported_never_kept(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path, size: int, fault: str
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, size, seed=4)
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"the previous, good file")

    async def main() -> None:
        async with oss_session(creds, QUICK) as oss:
            assert (await oss.upload(bucket, "obj", str(src))).success
            oss_server.faults = FaultConfig(**{fault: 1.0})
            down = await oss.download(bucket, "obj", str(dest))
            up = await oss.upload(bucket, "obj2", str(src))
            oss_server.faults = FaultConfig()
        assert not down.success
        assert "crc64" in down.error_message.lower() and "again" in down.error_message
        assert "nothing" in down.error_message  # says the destination was left alone
        with pytest.raises(IntegrityError):
            down.raise_for_error()
        if fault == "bad_crc_rate":  # a corrupt GET body does not touch uploads
            assert not up.success and "crc64" in up.error_message.lower()
            with pytest.raises(IntegrityError):
                up.raise_for_error()

    run(main())
    assert dest.read_bytes() == b"the previous, good file"
    assert leftovers(tmp_path) == []
    assert remote_state(peer_bucket(creds, bucket))[1] == []


# ---------------------------------------------------------------------------- throttling


@pytest.mark.parametrize(
    ("delay_ms", "direction"), [(250, "upload"), (600, "upload"), (400, "download")]
)
def test_throttling_delay_is_honoured(
    creds: Any,
    bucket: str,
    oss_server: LocalOssServer,
    tmp_path: Path,
    delay_ms: int,
    direction: str,
) -> None:
    src = tmp_path / "f.bin"
    peer_bucket(creds, bucket).put_object("k", write_file(src, 1000))
    seed = seed_for(0, [True, False], 0.5)  # the first request is throttled, its retry is not
    # backoff_max is far below the delay: only x-oss-qos-delay-time can explain the wait.
    cfg = QUICK.model_copy(update={"backoff_base": 0.001, "backoff_max": 0.2, "max_retries": 3})

    async def main() -> None:
        async with oss_session(creds, cfg) as oss:
            oss_server.faults = FaultConfig(
                throttle_rate=0.5, throttle_delay_ms=delay_ms, seed=seed
            )
            oss_server.stats.reset()
            if direction == "upload":
                r: Any = await oss.upload(bucket, "k", str(src))
            else:
                r = await oss.download(bucket, "k", str(tmp_path / "out.bin"))
            oss_server.faults = FaultConfig()
            assert r.success, r.error_message

    run(main())
    op = "PutObject" if direction == "upload" else "HeadObject"
    events = [e for e in oss_server.stats.events if e[1] == op]
    assert [e[2] for e in events] == ["throttle", ""], events
    waited = events[1][0] - events[0][0]
    assert waited >= delay_ms / 1000, f"retried after {waited:.3f}s, asked to wait {delay_ms} ms"


def test_fault_free_control(creds: Any, bucket: str, tmp_path: Path) -> None:
    """The same small round trip without faults: no retries needed, CRC64 checked."""
    src = tmp_path / "f.bin"
    write_file(src, 3 * PART)

    async def main() -> None:
        async with oss_session(creds) as oss:
            up = await oss.upload(bucket, "k", str(src))
            down = await oss.download(bucket, "k", str(tmp_path / "g.bin"))
            assert up.success and down.success
            assert up.objects[0].crc64 == down.objects[0].crc64 == file_crc(src)

    run(main())
    assert os.path.getsize(tmp_path / "g.bin") == 3 * PART
