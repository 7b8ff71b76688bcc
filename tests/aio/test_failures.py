"""Failures become clear results; nothing is left behind (no partial files, no orphan uploads)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import oss2
import pytest
from aio_helpers import PART, SMALL, THRESHOLD, leftovers, oss_session, run, write_file
from pydantic import ValidationError

from agentbay_oss.aio import AsyncAgentBay, ProgressEvent, TransferConfig
from agentbay_oss.errors import (
    AuthError,
    IntegrityError,
    NotInitializedError,
    SourceChangedError,
)
from agentbay_oss.protocol.signing import Credentials
from agentbay_oss.server import FaultConfig, LocalOssServer

QUICK = SMALL.model_copy(update={"max_retries": 1})


def uploads_in_progress(peer: oss2.Bucket) -> list[str]:
    return [u.key for u in oss2.MultipartUploadIterator(peer)]


def test_config_validation_and_session_lifecycle(creds: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="concurrency"):
        TransferConfig(concurrency=0)
    with pytest.raises(ValidationError, match="part_size"):
        TransferConfig(part_size=1000)
    with pytest.raises(ValidationError, match="extra"):
        TransferConfig(partsize=5)  # type: ignore[call-arg]
    write_file(tmp_path / "f", 10)

    async def main() -> None:
        bad = await AsyncAgentBay({"concurrency": 999}).create()
        assert not bad.success and "concurrency" in bad.error_message
        session = (await AsyncAgentBay().create()).session
        r = await session.oss.upload("b", "k", str(tmp_path / "f"))
        assert not r.success and "env_init" in r.error_message
        with pytest.raises(NotInitializedError):
            r.raise_for_error()
        r2 = await session.oss.download("b", "k", str(tmp_path / "g"))
        assert not r2.success and "env_init" in r2.error_message
        await session.delete()
        r3 = await session.oss.env_init("ak", "sk", endpoint=creds.endpoint, region="cn-hangzhou")
        assert not r3.success and "deleted" in r3.error_message
        r4 = await session.oss.download_anonymous(creds.endpoint + "/b/k", str(tmp_path / "g"))
        assert not r4.success and "deleted" in r4.error_message

    run(main())


def test_env_init_validation() -> None:
    async def main() -> None:
        session = (await AsyncAgentBay().create()).session
        oss = session.oss
        ok = await oss.env_init("LTAIabcdefgh", "secret-value", "token-value")
        assert ok.success and ok.client_config is not None
        cfg = ok.client_config
        assert cfg.endpoint == "https://oss-cn-hangzhou.aliyuncs.com"
        assert (cfg.region, cfg.signature_version, cfg.addressing_style) == (
            "cn-hangzhou",
            "v4",
            "virtual-hosted",
        )
        assert cfg.has_security_token and "secret" not in ok.model_dump_json()
        assert cfg.access_key_id.startswith("LTAI") and "abcdefgh" not in cfg.access_key_id
        r = await oss.env_init("ak", "sk", endpoint="oss-eu-central-1-internal.aliyuncs.com")
        assert r.client_config is not None and r.client_config.region == "eu-central-1"
        for args, kw, needle in [
            (("", "sk"), {}, "access_key_id is empty"),
            (("ak", ""), {}, "access_key_secret is empty"),
            (("ak", "sk\n"), {}, "whitespace"),
            (("ak", "sk"), {"endpoint": "ftp://x"}, "invalid endpoint"),
            (("ak", "sk"), {"endpoint": "http://10.0.0.1:9000"}, "region"),
            (("ak", "sk"), {"signature_version": "v3"}, "signature_version"),
            (("ak", "sk", "t1"), {"security_token": "t2"}, "differ"),
        ]:
            bad = await oss.env_init(*args, **kw)
            assert not bad.success and needle in bad.error_message, bad.error_message
        v1 = await oss.env_init("ak", "sk", endpoint="http://localhost:1", signature_version="v1")
        assert v1.success and v1.client_config is not None
        assert v1.client_config.addressing_style == "path"
        await session.delete()

    run(main())


def test_auth_errors_are_clear(creds: Any, bucket: str, tmp_path: Path) -> None:
    write_file(tmp_path / "f", 10)

    async def attempt(**env: Any) -> str:
        session = (await AsyncAgentBay(QUICK).create()).session
        kw = {"endpoint": creds.endpoint, "region": creds.region}
        ak = env.pop("ak", creds.access_key_id)
        sk = env.pop("sk", creds.access_key_secret)
        token = env.pop("token", creds.security_token)
        assert (await session.oss.env_init(ak, sk, token, **kw, **env)).success
        r = await session.oss.upload(bucket, "k", str(tmp_path / "f"))
        await session.delete()
        assert not r.success and r.content == ""
        with pytest.raises(AuthError):
            r.raise_for_error()
        return r.error_message

    async def main() -> None:
        assert "securityToken" in await attempt(token=None)
        assert "access_key_secret" in await attempt(sk="wrong-secret")
        assert "access_key_id" in await attempt(ak="LTAIunknownkey")
        assert "securityToken" in await attempt(token="not-the-token", signature_version="v1")

    run(main())


def test_traversal_keys_refused_nothing_written_outside(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    evil = ["p/../x1", "p/a/../../x2", "p//etc/x3", "p/a\\..\\x4", "p/./x5"]
    for key in [*evil, "p/ok/fine.txt"]:
        peer.put_object(key, b"data")
    listed = {o.key for o in oss2.ObjectIterator(peer)}
    assert set(evil) <= listed, listed  # the server stored them verbatim
    dest = tmp_path / "inner" / "dest"
    dest.mkdir(parents=True)
    before = sorted(str(p) for p in tmp_path.rglob("*"))

    async def main() -> None:
        async with oss_session(creds) as oss:
            r = await oss.download(bucket, "p/", str(dest))
            assert not r.success
            assert "refused" in r.error_message and "5 item(s)" in r.error_message
            assert r.files == 1

    run(main())
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    new = sorted(set(after) - set(before))
    assert new == [str(dest / "ok"), str(dest / "ok" / "fine.txt")]
    assert not Path("/etc/x3").exists()


def test_source_change_during_multipart_aborts(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    src = tmp_path / "grow"
    write_file(src, 4 * PART)

    def grow(event: ProgressEvent) -> None:
        if event.bytes_done and event.files_done == 0:
            with src.open("ab") as f:
                f.write(b"more")

    async def main() -> None:
        async with oss_session(creds) as oss:
            r = await oss.upload(bucket, "g", str(src), progress=grow)
            assert not r.success and "changed" in r.error_message
            with pytest.raises(SourceChangedError):
                r.raise_for_error()

    run(main())
    assert uploads_in_progress(peer) == []
    assert [o.key for o in oss2.ObjectIterator(peer)] == []


def test_cancelled_upload_aborts_and_cancelled_download_cleans_up(
    creds: Any, bucket: str, peer: oss2.Bucket, tmp_path: Path
) -> None:
    data = write_file(tmp_path / "f", 6 * PART)
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"previous")

    main_task: list[asyncio.Task[Any]] = []

    def cancel_me(event: ProgressEvent) -> None:
        if event.bytes_done and main_task:
            main_task.pop().cancel()  # once, mid-transfer

    async def main() -> None:
        current = asyncio.current_task()
        assert current is not None
        async with oss_session(creds) as oss:
            main_task.append(current)
            with pytest.raises(asyncio.CancelledError):
                await oss.upload(bucket, "c", str(tmp_path / "f"), progress=cancel_me)
            if hasattr(current, "uncancel"):  # Python >= 3.11 counts cancellations
                current.uncancel()
            assert uploads_in_progress(peer) == []
            assert (await oss.upload(bucket, "c", str(tmp_path / "f"))).success
            main_task.append(current)
            with pytest.raises(asyncio.CancelledError):
                await oss.download(bucket, "c", str(dest), progress=cancel_me)
            if hasattr(current, "uncancel"):  # Python >= 3.11 counts cancellations
                current.uncancel()

    run(main())
    assert uploads_in_progress(peer) == []
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []
    assert peer.get_object("c").read() == data


@pytest.mark.parametrize("size", [PART // 2, THRESHOLD + PART])
def test_corrupt_download_reported_and_destination_intact(
    oss_server: LocalOssServer, creds: Any, bucket: str, tmp_path: Path, size: int
) -> None:
    write_file(tmp_path / "f", size)
    dest = tmp_path / "d" / "dest.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"keep me")

    async def main() -> None:
        async with oss_session(creds, QUICK) as oss:
            assert (await oss.upload(bucket, "x", str(tmp_path / "f"))).success
            oss_server.faults = FaultConfig(corrupt_rate=1.0, seed=1)
            r = await oss.download(bucket, "x", str(dest))
            assert not r.success and "CRC64" in r.error_message
            with pytest.raises(IntegrityError):
                r.raise_for_error()

    run(main())
    assert dest.read_bytes() == b"keep me"
    assert leftovers(tmp_path) == []


def test_faults_are_retried_to_byte_exact_results(
    oss_server: LocalOssServer, creds: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for i in range(12):
        write_file(src / f"f{i}", (i * 37_001) % (3 * PART), seed=i)
    write_file(src / "big", 5 * PART + 3)
    config = SMALL.model_copy(update={"max_retries": 8})

    async def main() -> None:
        async with oss_session(creds, config) as oss:
            oss_server.faults = FaultConfig(
                fail_rate=0.1, reset_rate=0.05, bad_crc_rate=0.05, throttle_rate=0.05,
                throttle_delay_ms=5, corrupt_rate=0.05, seed=42,
            )  # fmt: skip
            up = await oss.upload(bucket, "t", str(src))
            assert up.success, up.error_message
            down = await oss.download(bucket, "t/", str(tmp_path / "dst"))
            assert down.success, down.error_message
            oss_server.faults = FaultConfig()

    run(main())
    for p in src.iterdir():
        assert (tmp_path / "dst" / p.name).read_bytes() == p.read_bytes()
    assert leftovers(tmp_path) == []


def test_credentials_provider_survives_token_change(
    oss_server: LocalOssServer, creds: Any, bucket: str, tmp_path: Path
) -> None:
    data = write_file(tmp_path / "f", THRESHOLD + PART)
    calls: list[int] = []

    async def provider() -> Credentials:
        calls.append(1)
        return Credentials(creds.access_key_id, creds.access_key_secret, "fresh-token")

    async def main() -> None:
        async with oss_session(creds, credentials_provider=provider) as oss:
            assert (await oss.upload(bucket, "a", str(tmp_path / "f"))).success
            oss_server.set_credentials(creds.access_key_id, creds.access_key_secret, "fresh-token")
            r = await oss.download(bucket, "a", str(tmp_path / "g"))
            assert r.success, r.error_message

    run(main())
    assert calls == [1]
    assert (tmp_path / "g").read_bytes() == data


def test_credentials_provider_called_before_known_expiry(
    creds: Any, bucket: str, tmp_path: Path
) -> None:
    write_file(tmp_path / "f", 10)
    expiries: list[float] = []

    def provider() -> tuple[Credentials, float]:
        # The first answer expires within the refresh margin, the next ones in an hour.
        expiries.append(time.time() + (10 if not expiries else 3600))
        return Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token), (
            expiries[-1]
        )

    async def main() -> None:
        session = (await AsyncAgentBay(SMALL).create()).session
        r = await session.oss.env_init(
            "", "", endpoint=creds.endpoint, region=creds.region, credentials_provider=provider
        )
        assert r.success and r.client_config is not None
        assert r.client_config.has_credentials_provider and r.client_config.has_security_token
        assert len(expiries) == 1
        for key in ("a", "b"):
            up = await session.oss.upload(bucket, key, str(tmp_path / "f"))
            assert up.success, up.error_message
        await session.delete()

    run(main())
    assert len(expiries) == 2  # refreshed once before the first request, then not again


def test_bad_inputs_give_clear_results(creds: Any, bucket: str, tmp_path: Path) -> None:
    write_file(tmp_path / "f", 10)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    write_file(tmp_path / "dir" / "x", 1)

    async def main() -> None:
        async with oss_session(creds) as oss:
            cases = [
                (oss.upload(bucket, "k", str(tmp_path / "missing")), "No such file"),
                (oss.upload(bucket, "k", str(tmp_path / "fifo")), "FIFO"),
                (oss.upload("Bad_Bucket", "k", str(tmp_path / "f")), "invalid bucket"),
                (oss.upload(bucket, "", str(tmp_path / "f")), "key is empty"),
                (oss.upload(bucket, "x" * 1100, str(tmp_path / "f")), "1023"),
                (oss.download(bucket, "nope", str(tmp_path / "o")), "no object"),
                (oss.download(bucket + "-none", "k", str(tmp_path / "o")), "NoSuchBucket"),
                (oss.download(bucket, "k", ""), "path"),
                (oss.upload_anonymous("not a url", str(tmp_path / "f")), "URL"),
                (oss.upload_anonymous(creds.endpoint + "/b/k?sig=1", str(tmp_path / "dir")),
                 "presigned URL names one object"),
                (oss.download_anonymous(creds.endpoint + f"/{bucket}/missing", str(tmp_path)),
                 "HTTP 40"),
            ]  # fmt: skip
            for coro, needle in cases:
                r = await coro
                assert not r.success and needle in r.error_message, r.error_message

    run(main())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "f", "fifo"]


def test_no_secrets_in_logs_results_or_reprs(
    creds: Any, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_file(tmp_path / "f", THRESHOLD + 1)
    texts: list[str] = []

    async def main() -> None:
        async with oss_session(creds) as oss:
            texts.append(repr(oss))
            up = await oss.upload(bucket, "k", str(tmp_path / "f"))
            url = await oss.presign(bucket, "k")
            down = await oss.download_anonymous(url, str(tmp_path / "g"))
            texts.extend([repr(up), repr(down), down.model_dump_json()])
            assert creds.security_token.split("+")[0] in url  # the URL itself carries it
        async with oss_session(creds, QUICK) as oss:
            oss._client.creds = Credentials(  # type: ignore[union-attr]
                creds.access_key_id, "wrong-" + creds.access_key_secret, creds.security_token
            )
            bad = await oss.upload(bucket, "k2", str(tmp_path / "f"))
            texts.extend([repr(bad), bad.error_message, str(bad.error)])

    with caplog.at_level(logging.DEBUG, logger="agentbay_oss"):
        run(main())
    texts.append(caplog.text)
    blob = "\n".join(texts)
    assert "PUT oss://" in caplog.text  # DEBUG request lines were captured
    for secret in (creds.access_key_secret, creds.security_token):
        assert secret not in blob
    assert "Signature=" not in caplog.text and "x-oss-signature=" not in caplog.text


def test_backoff_is_jittered_bounded_and_honours_qos_delay() -> None:
    from agentbay_oss.aio._client import HttpCore
    from agentbay_oss.errors import ServerError, TransportError

    core = HttpCore(TransferConfig(backoff_base=0.1, backoff_max=1.0))
    plain = [core.backoff(a, TransportError("x")) for a in range(12) for _ in range(20)]
    assert all(0 <= d <= 1.0 for d in plain) and len(set(plain)) > 100
    assert max(core.backoff(0, TransportError("x")) for _ in range(50)) <= 0.1
    throttled = ServerError("slow down", delay=2.5)
    assert all(core.backoff(0, throttled) >= 2.5 for _ in range(50))
