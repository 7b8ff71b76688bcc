"""Resume after an interruption (`TransferConfig(checkpoint_dir=...)`): a rerun sends or fetches
only what is missing, a changed source or object restarts cleanly, and a real `kill -9` in the
middle of a 256 MiB transfer costs at most `concurrency` parts of re-sent data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oss2
import pytest
from rel_helpers import (
    PART,
    QUICK,
    MiB,
    file_crc,
    oss_session,
    peer_bucket,
    remote_state,
    run,
    write_file,
)

from agentbay_oss.aio import ProgressEvent, TransferConfig
from agentbay_oss.server import FaultConfig, LocalOssServer

PARTS = 10


def _config(ckpt: Path, **kw: Any) -> TransferConfig:
    # One part on the wire at a time (the next one goes while the server answers the last):
    # the interruption lands within a part of where the hook asks.
    base = {"concurrency": 1, "max_retries": 0, "checkpoint_dir": ckpt}
    return QUICK.model_copy(update={**base, **kw})


def _fail_after(srv: LocalOssServer, parts: int) -> Any:
    """A progress hook that makes the server fail every request once `parts` are done."""

    def hook(event: ProgressEvent) -> None:
        if event.bytes_done >= parts * PART:
            srv.faults = FaultConfig(fail_rate=1.0)

    return hook


def _parts_held(peer: Any, key: str) -> int:
    """How many parts of the one unfinished upload of `key` the server holds (oss2 judges)."""
    (upload,) = [u for u in oss2.MultipartUploadIterator(peer) if u.key == key]
    return len(list(oss2.PartIterator(peer, key, upload.upload_id)))


def _records(ckpt: Path) -> list[Path]:
    return sorted(ckpt.glob("*.json")) if ckpt.exists() else []


def test_upload_resumes_with_only_the_missing_parts(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, PARTS * PART, seed=1)
    ckpt = tmp_path / "ckpt"
    peer = peer_bucket(creds, bucket)
    held: list[int] = []

    async def main() -> None:
        async with oss_session(creds, _config(ckpt)) as oss:
            first = await oss.upload(bucket, "k", str(src), progress=_fail_after(oss_server, 4))
            assert not first.success and "503" in first.error_message
            oss_server.faults = FaultConfig()
            assert remote_state(peer)[1] == ["k"]  # kept for the rerun
            assert len(_records(ckpt)) == 1
            held.append(_parts_held(peer, "k"))
            oss_server.stats.reset()
            again = await oss.upload(bucket, "k", str(src))
            assert again.success, again.error_message
            assert again.objects[0].crc64 == file_crc(src)

    run(main())
    ops = oss_server.stats.requests
    assert ops["ListParts"] == 1 and ops["InitiateMultipartUpload"] == 0
    assert held[0] in (4, 5)  # the part on the wire when the fault came may have landed
    assert ops["UploadPart"] == PARTS - held[0]
    assert peer.get_object("k").read() == src.read_bytes()
    assert remote_state(peer) == (["k"], [])
    assert _records(ckpt) == []


def test_upload_keeps_parts_the_record_missed_when_their_crc_matches(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """A crash between a part's reply and the record's save: the server has the part, the
    record does not. The local bytes' CRC64 proves the part is ours: it is not sent again."""
    src = tmp_path / "src.bin"
    write_file(src, PARTS * PART, seed=2)
    ckpt = tmp_path / "ckpt"
    recorded: list[int] = []
    held: list[int] = []

    async def main() -> None:
        async with oss_session(creds, _config(ckpt)) as oss:
            first = await oss.upload(bucket, "k", str(src), progress=_fail_after(oss_server, 5))
            assert not first.success
            oss_server.faults = FaultConfig()
            (record,) = _records(ckpt)
            data = json.loads(record.read_text())
            numbers = sorted(int(n) for n in data["parts"])
            assert numbers[:5] == [1, 2, 3, 4, 5] and numbers == list(range(1, len(numbers) + 1))
            recorded.append(len(numbers))
            for n in numbers[-2:]:
                del data["parts"][str(n)]
            record.write_text(json.dumps(data))
            # The server may hold one part more than the record (its answer came as the
            # fault cut the upload short): that one is also proved ours by its CRC64.
            held.append(_parts_held(peer_bucket(creds, bucket), "k"))
            oss_server.stats.reset()
            again = await oss.upload(bucket, "k", str(src))
            assert again.success, again.error_message

    run(main())
    assert held[0] in (recorded[0], recorded[0] + 1)
    assert oss_server.stats.requests["UploadPart"] == PARTS - held[0]
    assert peer_bucket(creds, bucket).get_object("k").read() == src.read_bytes()


def test_upload_of_a_changed_source_restarts_cleanly(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, PARTS * PART, seed=3)
    ckpt = tmp_path / "ckpt"
    peer = peer_bucket(creds, bucket)

    async def main() -> None:
        async with oss_session(creds, _config(ckpt)) as oss:
            first = await oss.upload(bucket, "k", str(src), progress=_fail_after(oss_server, 4))
            assert not first.success
            oss_server.faults = FaultConfig()
            write_file(src, PARTS * PART, seed=4)  # same size, new bytes and mtime
            os.utime(src, ns=(time.time_ns(), time.time_ns() + 10**9))
            oss_server.stats.reset()
            again = await oss.upload(bucket, "k", str(src))
            assert again.success, again.error_message

    run(main())
    ops = oss_server.stats.requests
    assert ops["AbortMultipartUpload"] == 1 and ops["InitiateMultipartUpload"] == 1
    assert ops["UploadPart"] == PARTS
    assert peer.get_object("k").read() == src.read_bytes()  # never a mix of old and new
    assert remote_state(peer) == (["k"], [])
    assert _records(ckpt) == []


def test_download_resumes_with_only_the_missing_ranges(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    data = write_file(src, PARTS * PART, seed=5)
    peer_bucket(creds, bucket).put_object("k", data)
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "k.bin"

    async def main() -> None:
        async with oss_session(creds, _config(ckpt)) as oss:
            first = await oss.download(bucket, "k", str(dest), progress=_fail_after(oss_server, 4))
            assert not first.success
            oss_server.faults = FaultConfig()
            assert not dest.exists()  # the destination is never partial
            (temp,) = list(out.iterdir())  # the hidden temp file waits for the rerun
            assert temp.name.startswith(".k.bin.agentbay-")
            oss_server.stats.reset()
            again = await oss.download(bucket, "k", str(dest))
            assert again.success, again.error_message

    run(main())
    assert oss_server.stats.requests["GetObject"] == PARTS - 4
    assert dest.read_bytes() == data
    assert [p.name for p in out.iterdir()] == ["k.bin"]
    assert _records(ckpt) == []


def test_download_of_a_changed_object_restarts_cleanly(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    peer = peer_bucket(creds, bucket)
    old = write_file(tmp_path / "old.bin", PARTS * PART, seed=6)
    new = write_file(tmp_path / "new.bin", PARTS * PART, seed=7)
    peer.put_object("k", old)
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "k.bin"

    async def main() -> None:
        async with oss_session(creds, _config(ckpt)) as oss:
            first = await oss.download(bucket, "k", str(dest), progress=_fail_after(oss_server, 4))
            assert not first.success
            oss_server.faults = FaultConfig()
            peer.put_object("k", new)
            oss_server.stats.reset()
            again = await oss.download(bucket, "k", str(dest))
            assert again.success, again.error_message

    run(main())
    assert oss_server.stats.requests["GetObject"] == PARTS
    assert dest.read_bytes() == new  # never a mix of old and new
    assert [p.name for p in out.iterdir()] == ["k.bin"]
    assert _records(ckpt) == []


# ---------------------------------------------------------------------------- kill -9

BIG = 256 * MiB
KILL_PART = 8 * MiB
KILL_CONCURRENCY = 4
XML_SLACK = 64 * 1024  # CompleteMultipartUpload's XML body, counted with the data

_CHILD = r"""
import asyncio, os, sys
from pathlib import Path
from agentbay_oss.aio import AsyncAgentBay, TransferConfig
mode, bucket, key, path, ckpt, part, conc = sys.argv[1:8]
async def main():
    cfg = TransferConfig(part_size=int(part), multipart_threshold=int(part), concurrency=int(conc),
                         checkpoint_dir=Path(ckpt))
    oss = (await AsyncAgentBay(cfg).create()).session.oss
    e = os.environ
    await oss.env_init(e["T_AK"], e["T_SK"], e["T_TOKEN"], endpoint=e["T_EP"], region=e["T_REGION"])
    call = oss.upload if mode == "upload" else oss.download
    r = await call(bucket, key, path)
    print("FINISHED", r.success, r.error_message)
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    path = tmp_path_factory.mktemp("kill") / "big.bin"
    write_file(path, BIG, seed=8)
    yield path, file_crc(path)
    path.unlink()


def _run_and_kill(
    creds: Any, srv: LocalOssServer, args: list[str], op: str, after: int
) -> subprocess.Popen[str]:
    """Start the child transfer and SIGKILL it once the server has seen `after` `op`s."""
    env = {
        **os.environ,
        "T_AK": creds.access_key_id,
        "T_SK": creds.access_key_secret,
        "T_TOKEN": creds.security_token,
        "T_EP": creds.endpoint,
        "T_REGION": creds.region,
    }
    srv.faults = FaultConfig(latency_ms=150)  # slow enough for the kill to land mid-way
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args, str(KILL_PART), str(KILL_CONCURRENCY)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while srv.stats.requests[op] < after and proc.poll() is None:
        assert time.monotonic() < deadline, "the child transfer did not get going"
        time.sleep(0.005)
    assert proc.poll() is None, f"the child ended before the kill: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()  # waits, and closes the pipes
    assert proc.returncode == -signal.SIGKILL
    srv.faults = FaultConfig()
    return proc


def test_kill_9_mid_upload_then_rerun(
    creds: Any,
    bucket: str,
    oss_server: LocalOssServer,
    tmp_path: Path,
    big_source: tuple[Path, int],
) -> None:
    src, crc = big_source
    ckpt = tmp_path / "ckpt"
    oss_server.stats.reset()
    _run_and_kill(
        creds, oss_server, ["upload", bucket, "big", str(src), str(ckpt)], "UploadPart", 14
    )
    assert len(_records(ckpt)) == 1
    cfg = TransferConfig(
        part_size=KILL_PART,
        multipart_threshold=KILL_PART,
        concurrency=KILL_CONCURRENCY,
        checkpoint_dir=ckpt,
    )

    async def main() -> None:
        async with oss_session(creds, cfg) as oss:
            r = await oss.upload(bucket, "big", str(src))
            assert r.success, r.error_message
            assert r.objects[0].crc64 == crc

    run(main())
    resent = oss_server.stats.bytes_received - BIG
    print(f"upload kill -9: re-sent {resent} bytes ({resent / KILL_PART:.2f} parts)")
    assert resent <= KILL_CONCURRENCY * KILL_PART + XML_SLACK, f"re-sent {resent} bytes"
    assert oss_server.stats.requests["ListParts"] >= 1
    peer = peer_bucket(creds, bucket)
    assert int(peer.head_object("big").headers["x-oss-hash-crc64ecma"]) == crc
    assert remote_state(peer) == (["big"], [])
    assert _records(ckpt) == []


def test_kill_9_mid_download_then_rerun(
    creds: Any,
    bucket: str,
    oss_server: LocalOssServer,
    tmp_path: Path,
    big_source: tuple[Path, int],
) -> None:
    src, crc = big_source
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "big.bin"

    async def upload() -> None:
        async with oss_session(creds, TransferConfig(concurrency=4)) as oss:
            assert (await oss.upload(bucket, "big", str(src))).success

    run(upload())
    oss_server.stats.reset()
    _run_and_kill(
        creds, oss_server, ["download", bucket, "big", str(dest), str(ckpt)], "GetObject", 14
    )
    assert not dest.exists()
    cfg = TransferConfig(
        part_size=KILL_PART,
        multipart_threshold=KILL_PART,
        concurrency=KILL_CONCURRENCY,
        checkpoint_dir=ckpt,
    )

    async def main() -> None:
        async with oss_session(creds, cfg) as oss:
            r = await oss.download(bucket, "big", str(dest))
            assert r.success, r.error_message
            assert r.objects[0].crc64 == crc

    run(main())
    resent = oss_server.stats.bytes_sent - BIG
    print(f"download kill -9: re-fetched {resent} bytes ({resent / KILL_PART:.2f} parts)")
    assert resent <= KILL_CONCURRENCY * KILL_PART, f"re-sent {resent} bytes"
    assert file_crc(dest) == crc
    assert [p.name for p in out.iterdir()] == ["big.bin"]
    assert _records(ckpt) == []
