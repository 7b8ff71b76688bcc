"""Deleting a session while its transfers run: they stop, clean up, and report failure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import oss2
from rel_helpers import PART, QUICK, leftovers, peer_bucket, remote_state, run, write_file

from agentbay_oss.aio import AsyncAgentBay, AsyncSession, ProgressEvent

PATIENT_PARTS = QUICK.model_copy(update={"concurrency": 2})


async def _session(creds: Any) -> AsyncSession:
    created = await AsyncAgentBay(PATIENT_PARTS).create()
    assert created.success
    session = created.session
    r = await session.oss.env_init(
        creds.access_key_id,
        creds.access_key_secret,
        creds.security_token,
        endpoint=creds.endpoint,
        region=creds.region,
    )
    assert r.success, r.error_message
    return session


def _delete_after(session: AsyncSession, n: int, box: list[Any]) -> Any:
    """A progress hook that deletes the session (from another task) once n bytes moved."""

    def hook(event: ProgressEvent) -> None:
        if not box and event.bytes_done >= n:
            box.append(asyncio.ensure_future(session.delete()))

    return hook


def test_deleting_the_session_mid_upload_aborts_the_multipart_upload(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    write_file(src, 40 * PART)

    async def main() -> None:
        session = await _session(creds)
        box: list[Any] = []
        r = await session.oss.upload(
            bucket, "k", str(src), progress=_delete_after(session, PART, box)
        )
        assert not r.success
        assert "session was deleted" in r.error_message, r.error_message
        deleted = await box[0]
        assert deleted.success, deleted.error_message
        assert session.deleted
        again = await session.oss.upload(bucket, "k2", str(src))
        assert not again.success and "deleted" in again.error_message

    run(main())
    keys, uploads = remote_state(peer_bucket(creds, bucket))
    assert keys == [] and uploads == []


def test_deleting_the_session_mid_download_leaves_no_temp_file(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    peer = peer_bucket(creds, bucket)
    data = write_file(tmp_path / "src.bin", 40 * PART)
    peer.put_object("obj", data)
    out = tmp_path / "out"
    out.mkdir()

    async def main() -> None:
        session = await _session(creds)
        box: list[Any] = []
        dest = out / "obj.bin"
        r = await session.oss.download(
            bucket, "obj", str(dest), progress=_delete_after(session, PART, box)
        )
        assert not r.success and "session was deleted" in r.error_message, r.error_message
        assert (await box[0]).success

    run(main())
    assert list(out.iterdir()) == [] and leftovers(out) == []


def test_a_caller_cancelled_while_the_session_lives_still_sees_cancellation(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    write_file(src, 40 * PART)

    async def main() -> None:
        session = await _session(creds)
        started = asyncio.Event()

        def hook(event: ProgressEvent) -> None:
            started.set()

        task = asyncio.ensure_future(session.oss.upload(bucket, "k", str(src), progress=hook))
        await started.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the upload finished although its caller was cancelled")
        assert not session.deleted
        await session.delete()

    run(main())
    assert list(oss2.MultipartUploadIterator(peer_bucket(creds, bucket))) == []
