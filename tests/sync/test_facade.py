"""The blocking facade against the real local server: parity, threads, running loops, Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import oss2
import pytest

from agentbay_oss import (
    AgentBay,
    OSSDownloadResult,
    OSSUploadResult,
    ProgressEvent,
    Session,
    SessionClosedError,
    TransferConfig,
)
from agentbay_oss.aio import AsyncAgentBay, AsyncOss, AsyncSession
from agentbay_oss.server import FaultConfig, LocalOssServer
from agentbay_oss.sync import Oss
from tests.conftest import Creds

KiB = 1024
SMALL_PARTS = TransferConfig(part_size=100 * KiB, multipart_threshold=200 * KiB, concurrency=2)


def _public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }


@pytest.mark.parametrize(
    ("blocking", "asynchronous"),
    [(AgentBay, AsyncAgentBay), (Session, AsyncSession), (Oss, AsyncOss)],
)
def test_mirror_names_signatures_and_docstrings(blocking: type, asynchronous: type) -> None:
    async_members = _public(asynchronous)
    sync_members = _public(blocking)
    missing = sorted(set(async_members) - set(sync_members))
    assert not missing, f"{blocking.__name__} lacks {missing}"
    for name, member in async_members.items():
        if isinstance(member, property):
            continue
        ours = sync_members[name]
        theirs_sig, ours_sig = inspect.signature(member), inspect.signature(ours)  # type: ignore[arg-type]
        assert list(ours_sig.parameters.values()) == list(theirs_sig.parameters.values()), name
        if inspect.isasyncgenfunction(member):  # iterators: a plain iterator on the blocking side
            assert not inspect.iscoroutinefunction(ours), name
            item = theirs_sig.return_annotation.removeprefix("AsyncGenerator[")
            assert ours_sig.return_annotation == "Iterator[" + item.removesuffix(", None]") + "]"
        else:
            assert inspect.iscoroutinefunction(member), name
            assert not inspect.iscoroutinefunction(ours), name
            assert ours_sig.return_annotation == theirs_sig.return_annotation, name
        assert ours.__doc__ == member.__doc__, name


@pytest.fixture
def session(creds: Creds) -> Iterator[Session]:
    with AgentBay(config=SMALL_PARTS) as agent_bay:
        created = agent_bay.create()
        assert created.success, created.error_message
        session: Session = created.session
        init = session.oss.env_init(
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            creds.endpoint,
            creds.region,
        )
        assert init.success, init.error_message
        yield session
    assert session.deleted  # leaving `with AgentBay()` closed it


def _oss2_bucket(creds: Creds, bucket: str) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return oss2.Bucket(auth, creds.endpoint, bucket)


def test_round_trip_returns_the_async_result_models(
    session: Session, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    data = os.urandom(350 * KiB)  # multipart with this config
    src.write_bytes(data)
    up = session.oss.upload(bucket, "dir/", str(src))
    assert type(up) is OSSUploadResult
    assert up.success, up.error_message
    assert up.content.startswith("Upload success")
    assert [o.key for o in up.objects] == ["dir/src.bin"]
    down = session.oss.download(bucket, "dir/src.bin", str(tmp_path / "back.bin"))
    assert type(down) is OSSDownloadResult
    assert down.success, down.error_message
    assert (tmp_path / "back.bin").read_bytes() == data
    assert down.objects[0].crc64 == up.objects[0].crc64


def test_eight_threads_at_once(session: Session, bucket: str, tmp_path: Path) -> None:
    start = threading.Barrier(8)

    def worker(i: int) -> bytes:
        src = tmp_path / f"in-{i}.bin"
        src.write_bytes(os.urandom((i + 1) * 60 * KiB))  # some single PUT, some multipart
        start.wait()
        up = session.oss.upload(bucket, f"threads/{i}.bin", str(src))
        assert up.success, up.error_message
        back = tmp_path / f"out-{i}.bin"
        down = session.oss.download(bucket, f"threads/{i}.bin", str(back))
        assert down.success, down.error_message
        return back.read_bytes()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    for i, data in enumerate(results):
        assert data == (tmp_path / f"in-{i}.bin").read_bytes()
    listed = session.oss.list_objects(bucket, "threads/")
    assert sorted(e.key for e in listed.entries) == [f"threads/{i}.bin" for i in range(8)]


def test_blocking_call_inside_a_running_loop(
    session: Session, bucket: str, creds: Creds, tmp_path: Path
) -> None:
    src = tmp_path / "cell.txt"
    src.write_text("from a notebook cell")

    async def notebook_cell() -> OSSUploadResult:
        # A Jupyter cell: this thread's loop is running; the blocking API must still work.
        return session.oss.upload(bucket, "cell.txt", str(src))

    result = asyncio.run(notebook_cell())
    assert result.success, result.error_message
    assert _oss2_bucket(creds, bucket).get_object("cell.txt").read() == (b"from a notebook cell")


def test_blocking_call_from_the_loop_thread_is_refused(
    session: Session, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    seen: list[BaseException] = []

    def hook(event: ProgressEvent) -> None:
        # Progress hooks run on the loop thread: a blocking call here would deadlock.
        try:
            session.oss.list_objects(bucket)
        except RuntimeError as exc:
            seen.append(exc)

    result = session.oss.upload(bucket, "f.txt", str(src), progress=hook)
    assert result.success, result.error_message
    assert seen, "the hook never ran"
    assert "deadlock" in str(seen[0])


def _interrupt_on_first_progress() -> tuple[threading.Event, object]:
    sent = threading.Event()

    def hook(event: ProgressEvent) -> None:
        if event.bytes_done and not sent.is_set():
            sent.set()
            # A real SIGINT to the main thread, as Ctrl-C delivers it.
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    return sent, hook


def test_ctrl_c_during_multipart_upload_aborts_it(
    session: Session, bucket: str, creds: Creds, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    assert threading.current_thread() is threading.main_thread()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * KiB))  # 31 parts of 100 KiB, 2 in flight
    requests = oss_server.stats.requests
    initiated, aborted = requests["InitiateMultipartUpload"], requests["AbortMultipartUpload"]
    # Every request, the abort included, waits 200 ms in the server before it is handled.
    oss_server.faults = FaultConfig(latency_ms=200)
    sent, hook = _interrupt_on_first_progress()
    with pytest.raises(KeyboardInterrupt):
        session.oss.upload(bucket, "big.bin", str(src), progress=hook)  # type: ignore[arg-type]
    assert sent.is_set()
    # KeyboardInterrupt came only after the cancelled task's abort had been answered.
    assert requests["InitiateMultipartUpload"] == initiated + 1
    assert requests["AbortMultipartUpload"] == aborted + 1
    oss_server.faults = FaultConfig()
    peer = _oss2_bucket(creds, bucket)
    assert list(oss2.MultipartUploadIterator(peer)) == []
    assert not peer.object_exists("big.bin")
    # The session is still usable after the interrupt.
    src.write_bytes(b"after")
    assert session.oss.upload(bucket, "after.txt", str(src)).success


def test_ctrl_c_during_ranged_download_leaves_no_temp_file(
    session: Session, bucket: str, creds: Creds, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * KiB)
    _oss2_bucket(creds, bucket).put_object("big.bin", data)
    dest_dir = tmp_path / "dest"
    dest_dir.mkdir()
    (dest_dir / "big.bin").write_bytes(b"previous version")
    oss_server.faults = FaultConfig(latency_ms=40)
    sent, hook = _interrupt_on_first_progress()
    with pytest.raises(KeyboardInterrupt):
        session.oss.download(bucket, "big.bin", str(dest_dir), progress=hook)  # type: ignore[arg-type]
    assert sent.is_set()
    assert sorted(p.name for p in dest_dir.iterdir()) == ["big.bin"]  # no temp file left
    assert (dest_dir / "big.bin").read_bytes() == b"previous version"


def _blocking_session(
    creds: Creds, config: TransferConfig | None = None
) -> tuple[AgentBay, Session]:
    agent_bay = AgentBay(config=config)
    session = agent_bay.create().session
    assert session.oss.env_init(
        creds.access_key_id,
        creds.access_key_secret,
        securityToken=creds.security_token,
        endpoint=creds.endpoint,
        region=creds.region,
    ).success
    return agent_bay, session


def test_deleted_session_is_a_clear_error(creds: Creds, bucket: str, tmp_path: Path) -> None:
    agent_bay, session = _blocking_session(creds)
    assert session.delete().success
    assert session.deleted
    src = tmp_path / "f.txt"
    src.write_text("x")
    result = session.oss.upload(bucket, "f.txt", str(src))
    assert not result.success
    assert "deleted" in result.error_message
    # The hint names the class a blocking user calls, in the message and the typed error.
    assert "AgentBay().create()" in result.error_message
    assert "AsyncAgentBay" not in result.error_message
    with pytest.raises(SessionClosedError) as raised:
        result.raise_for_error()
    assert "AgentBay().create()" in str(raised.value) and "Async" not in str(raised.value)
    for failed in (
        session.oss.download(bucket, "f.txt", str(tmp_path / "g")),
        session.oss.list_objects(bucket),
        session.oss.env_init("AK", "SK"),
    ):
        assert "AgentBay().create()" in failed.error_message, failed.error_message
    with pytest.raises(SessionClosedError, match=r"AgentBay\(\)\.create\(\)") as presign:
        session.oss.presign(bucket, "f.txt")
    assert "Async" not in str(presign.value)
    agent_bay.close()


def test_a_deleted_async_session_names_the_async_class() -> None:
    async def listing() -> str:
        async with AsyncAgentBay() as agent_bay:
            session = (await agent_bay.create()).session
            await session.delete()
            return (await session.oss.list_objects("bkt")).error_message

    assert "AsyncAgentBay.create()" in asyncio.run(listing())


def test_invalid_config_is_a_failed_result() -> None:
    with AgentBay(config={"concurrency": 0}) as agent_bay:
        result = agent_bay.create()
    assert not result.success
    assert "concurrency" in result.error_message
    assert result.session is None


def test_dropped_session_releases_its_connections(creds: Creds, bucket: str) -> None:
    from agentbay_oss.sync import _api
    from agentbay_oss.sync._portal import run

    agent_bay = AgentBay()
    session = agent_bay.create().session
    assert session.oss.env_init(
        creds.access_key_id,
        creds.access_key_secret,
        creds.security_token,
        creds.endpoint,
        creds.region,
    ).success
    assert session.oss.list_objects(bucket).success  # opens a connection
    async_session = session.async_session
    del session
    gc.collect()

    async def background_deletes_done() -> None:
        # The finalizer queued the delete before this coroutine was queued.
        await asyncio.gather(*_api._background)

    run(background_deletes_done())
    assert async_session.deleted
    agent_bay.close()


def test_deleting_a_session_from_another_thread_stops_its_blocking_upload(
    creds: Creds, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    agent_bay, session = _blocking_session(creds, SMALL_PARTS)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * KiB))
    deleted: list[object] = []
    deleter: list[threading.Thread] = []

    def hook(event: ProgressEvent) -> None:
        # Hooks run on the loop thread, where blocking calls are refused: delete from a thread.
        if event.bytes_done and not deleter:
            deleter.append(threading.Thread(target=lambda: deleted.append(session.delete())))
            deleter[0].start()

    oss_server.faults = FaultConfig(latency_ms=50)
    try:
        result = session.oss.upload(bucket, "big.bin", str(src), progress=hook)  # type: ignore[arg-type]
    finally:
        oss_server.faults = FaultConfig()
    deleter[0].join(10)
    assert not result.success and "session was deleted" in result.error_message
    assert len(deleted) == 1 and getattr(deleted[0], "success", False)
    peer = _oss2_bucket(creds, bucket)
    assert list(oss2.MultipartUploadIterator(peer)) == []
    assert not peer.object_exists("big.bin")
    agent_bay.close()
