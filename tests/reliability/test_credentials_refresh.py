"""STS credentials change: `env_init(..., credentials_provider=f)` is asked before the token
expires and when the server says SecurityTokenExpired, once for all the requests in flight, and
long transfers survive a token change in their middle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import (
    PART,
    QUICK,
    file_crc,
    new_oss,
    peer_bucket,
    remote_state,
    run,
    write_file,
)

from agentbay_oss.aio import AsyncOss, ProgressEvent, TransferConfig
from agentbay_oss.protocol.signing import Credentials
from agentbay_oss.server import FaultConfig, LocalOssServer


class RotatingSts:
    """A stand-in STS service: each call issues a new token and makes the server accept only
    it (the previous one answers SecurityTokenExpired from then on)."""

    def __init__(self, srv: LocalOssServer, creds: Any, lifetimes: list[float | None]) -> None:
        self.srv = srv
        self.creds = creds
        self.lifetimes = lifetimes  # seconds of validity per call; None: no expiry given
        self.calls = 0

    def __call__(self) -> tuple[Credentials, float | None]:
        self.calls += 1
        lifetime = self.lifetimes[min(self.calls, len(self.lifetimes)) - 1]
        token = f"{self.creds.security_token}-rotated-{self.calls}"
        expires = time.time() + lifetime if lifetime is not None else None
        self.srv.set_credentials(
            self.creds.access_key_id, self.creds.access_key_secret, token, expires
        )
        return Credentials(self.creds.access_key_id, self.creds.access_key_secret, token), expires


async def _oss_with(sts: RotatingSts, config: TransferConfig = QUICK, **kw: Any) -> AsyncOss:
    oss = await new_oss(config)
    r = await oss.env_init(
        "",
        "",
        endpoint=sts.creds.endpoint,
        region=sts.creds.region,
        credentials_provider=sts,
        **kw,
    )
    assert r.success, r.error_message
    assert r.client_config is not None and r.client_config.has_credentials_provider
    return oss


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_provider_is_asked_before_the_token_expires(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path, version: str
) -> None:
    """The first token has 5 s left (inside the refresh margin): the next request
    gets a fresh one first, so the server never sees the old token fail."""
    src = tmp_path / "f.bin"
    write_file(src, 1000)
    sts = RotatingSts(oss_server, creds, [5, 3600])

    async def main() -> None:
        oss = await _oss_with(sts, signature_version=version)
        assert sts.calls == 1  # env_init without keys asks the provider at once
        oss_server.stats.reset()
        r = await oss.upload(bucket, "k", str(src))
        assert r.success, r.error_message
        assert sts.calls == 2
        r2 = await oss.upload(bucket, "k2", str(src))  # the new token lasts: not asked again
        assert r2.success and sts.calls == 2
        await oss._session.delete()

    run(main())
    assert oss_server.stats.requests["PutObject"] == 2  # no refused attempt before either


def test_provider_is_asked_on_security_token_expired_once_for_all_parts(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """The token expires in the middle of a multipart upload with 4 parts in flight: they all
    get SecurityTokenExpired, the provider is asked once, and every part is sent again."""
    src = tmp_path / "f.bin"
    write_file(src, 24 * PART)
    sts = RotatingSts(oss_server, creds, [None])
    expired = False

    def expire(event: ProgressEvent) -> None:
        nonlocal expired
        if not expired and event.bytes_done >= 6 * PART:
            expired = True
            oss_server.expire_token()

    async def main() -> None:
        oss = await _oss_with(sts, QUICK.model_copy(update={"max_retries": 2}))
        oss_server.faults = FaultConfig(latency_ms=20)  # keep several parts in flight
        r = await oss.upload(bucket, "k", str(src), progress=expire)
        oss_server.faults = FaultConfig()
        assert r.success, r.error_message
        assert expired and sts.calls == 2, sts.calls
        await oss._session.delete()

    run(main())
    oss_server.set_credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)
    peer = peer_bucket(creds, bucket)
    assert peer.get_object("k").read() == src.read_bytes()
    assert remote_state(peer) == (["k"], [])


@pytest.mark.parametrize("change", ["expire_token", "set_credentials"])
def test_long_round_trip_survives_a_token_change(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path, change: str
) -> None:
    src = tmp_path / "src.bin"
    write_file(src, 40 * PART, seed=2)
    crc = file_crc(src)
    sts = RotatingSts(oss_server, creds, [None])
    changes = 0

    def change_token(event: ProgressEvent) -> None:
        nonlocal changes
        if changes == 0 and event.bytes_done >= event.bytes_total // 2:
            changes += 1
            if change == "expire_token":
                oss_server.expire_token()
            else:  # rotated behind our back: the old token is refused from now on
                oss_server.set_credentials(
                    creds.access_key_id, creds.access_key_secret, "someone-else's-token"
                )

    async def main() -> None:
        nonlocal changes
        oss = await _oss_with(sts, QUICK.model_copy(update={"max_retries": 2}))
        oss_server.faults = FaultConfig(latency_ms=10)  # a "long" transfer
        up = await oss.upload(bucket, "k", str(src), progress=change_token)
        assert up.success, up.error_message
        assert up.objects[0].crc64 == crc and sts.calls == 2
        changes = 0
        down = await oss.download(bucket, "k", str(tmp_path / "out.bin"), progress=change_token)
        oss_server.faults = FaultConfig()
        assert down.success, down.error_message
        assert down.objects[0].crc64 == crc and sts.calls == 3
        await oss._session.delete()

    run(main())
    assert file_crc(tmp_path / "out.bin") == crc


def test_without_a_provider_an_expired_token_is_reported(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "f.bin"
    write_file(src, 1000)

    async def main() -> None:
        oss = await new_oss()
        r = await oss.env_init(
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            endpoint=creds.endpoint,
            region=creds.region,
        )
        assert r.success
        oss_server.expire_token()
        up = await oss.upload(bucket, "k", str(src))
        assert not up.success
        assert "SecurityTokenExpired" in up.error_message
        assert "credentials_provider" in up.error_message
        await oss._session.delete()

    run(main())


def test_a_broken_provider_is_a_clear_error(creds: Any, oss_server: LocalOssServer) -> None:
    async def main() -> None:
        oss = await new_oss()
        r = await oss.env_init(
            "", "", endpoint=creds.endpoint, region=creds.region, credentials_provider=lambda: 42
        )
        assert not r.success and "credentials_provider must return" in r.error_message
        await oss._session.delete()

    run(main())
