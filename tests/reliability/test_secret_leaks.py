"""No secret anywhere: everything logged at DEBUG (root logger), every result, repr, str and
exception text of a run through env_init, uploads, downloads, presigned URLs and failures is
scanned for the secret key, the STS token and presigned signatures."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from rel_helpers import (
    PART,
    QUICK,
    closed_port,
    new_oss,
    oss_session,
    peer_bucket,
    run,
    write_file,
)

import agentbay_oss
from agentbay_oss.aio import AsyncAgentBay
from agentbay_oss.models import ApiResponse
from agentbay_oss.protocol.signing import Credentials
from agentbay_oss.server import FaultConfig, LocalOssServer


@pytest.fixture
def root_capture() -> Iterator[io.StringIO]:
    """Everything any logger emits at DEBUG, tracebacks included, as text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _texts(obj: Any) -> list[str]:
    """Every way an object may be shown: str, repr, JSON dump, and its error's traceback."""
    out = [str(obj), repr(obj)]
    if isinstance(obj, ApiResponse):
        out.append(obj.model_dump_json())
        out.append(obj.error_message)
        if obj.error is not None:
            out += [str(obj.error), repr(obj.error), obj.error.hint]
            try:
                obj.raise_for_error()
            except Exception as exc:
                out.append("".join(traceback.format_exception(exc)))
    return out


def test_no_secret_in_logs_results_reprs_or_errors(
    creds: Any,
    bucket: str,
    oss_server: LocalOssServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    root_capture: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)
    small = tmp_path / "small.bin"
    write_file(small, 1000)
    big = tmp_path / "big.bin"
    write_file(big, 3 * PART + 7)
    tree = tmp_path / "tree"
    write_file(tree / "a" / "x.txt", 10)
    (tree / "empty").mkdir()
    shown: list[str] = []
    urls: list[str] = []
    kw = {"endpoint": creds.endpoint, "region": creds.region}

    def provider() -> Credentials:
        return Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)

    async def main() -> None:
        for version in ("v4", "v1"):
            agent_bay = AsyncAgentBay(QUICK)
            created = await agent_bay.create()
            session = created.session
            oss = session.oss
            shown.extend([*_texts(created), repr(agent_bay), repr(session), repr(oss)])
            steps: list[Any] = [
                await oss.env_init(
                    creds.access_key_id,
                    creds.access_key_secret,
                    creds.security_token,
                    signature_version=version,
                    **kw,
                )
            ]
            assert steps[0].success, steps[0].error_message
            client = oss._client
            shown.extend(
                [repr(client), repr(client.creds), str(client.creds), repr(session.config)]
            )
            steps.append(await oss.upload(bucket, f"{version}/small", str(small)))
            steps.append(await oss.upload(bucket, f"{version}/big", str(big)))
            steps.append(await oss.upload(bucket, f"{version}/tree", str(tree)))
            steps.append(await oss.download(bucket, f"{version}/big", str(tmp_path / "d" / "b")))
            steps.append(await oss.download(bucket, f"{version}/", str(tmp_path / "d" / version)))
            steps.append(await oss.list_objects(bucket, version))
            get_url = await oss.presign(bucket, f"{version}/small")
            put_url = await oss.presign(bucket, f"{version}/put", method="PUT")
            gone_url = await oss.presign(bucket, f"{version}/gone")
            urls.extend([get_url, put_url, gone_url])
            steps.append(await oss.download_anonymous(get_url, str(tmp_path / "anon")))
            steps.append(await oss.upload_anonymous(put_url, str(small)))
            steps.append(await oss.download_anonymous(gone_url, str(tmp_path / "gone")))  # 404
            # Failures: expired token (fresh credentials come from the provider), then not.
            oss_server.expire_token()
            steps.append(await oss.download(bucket, f"{version}/small", str(tmp_path / "x1")))
            oss_server.set_credentials(
                creds.access_key_id, creds.access_key_secret, creds.security_token
            )
            renewing = await oss.env_init(
                "", "", signature_version=version, credentials_provider=provider, **kw
            )
            steps.append(renewing)
            steps.append(await oss.download(bucket, f"{version}/small", str(tmp_path / "x2")))
            oss_server.faults = FaultConfig(throttle_rate=1.0, throttle_delay_ms=1)
            steps.append(await oss.upload(bucket, f"{version}/throttled", str(small)))
            oss_server.faults = FaultConfig()
            steps.append(
                await oss.env_init(
                    creds.access_key_id,
                    "wrong-" + creds.access_key_secret,
                    creds.security_token,
                    signature_version=version,
                    **kw,
                )
            )
            steps.append(await oss.upload(bucket, f"{version}/denied", str(big)))
            steps.append(await oss.download(bucket, f"{version}/small", str(tmp_path / "x3")))
            port = closed_port()
            steps.append(
                await oss.env_init(
                    creds.access_key_id,
                    creds.access_key_secret,
                    creds.security_token,
                    signature_version=version,
                    endpoint=f"http://127.0.0.1:{port}",
                    region=creds.region,
                )
            )
            steps.append(await oss.upload(bucket, f"{version}/nowhere", str(small)))
            bad = await new_oss()
            steps.append(await bad.env_init(creds.access_key_id, creds.access_key_secret + "\n"))
            await bad._session.delete()
            for s in steps:
                shown.extend(_texts(s))
            outcomes = [s.success for s in steps]
            # The run went where it should: successes, then the failures.
            assert outcomes[:10] == [True] * 9 + [False], [
                (s.success, s.error_message) for s in steps
            ]
            assert outcomes[10:13] == [False, True, True], [s.error_message for s in steps[10:]]
            assert outcomes[13:] == [False, True, False, False, True, False, False]
            shown.extend([repr(oss), repr(session)])
            await agent_bay.close()

    run(main())

    # The blocking facade too.
    with agentbay_oss.AgentBay(QUICK) as agent_bay:
        session = agent_bay.create().session
        r = session.oss.env_init(
            creds.access_key_id, creds.access_key_secret, creds.security_token, **kw
        )
        up = session.oss.upload(bucket, "sync/small", str(small))
        denied = session.oss.upload("no-such-bucket-here", "k", str(small))
        shown += [repr(agent_bay), repr(session), repr(session.oss), *_texts(r), *_texts(up)]
        shown += _texts(denied)
        assert r.success and up.success and not denied.success

    signatures = []
    for url in urls:
        query = dict(parse_qsl(urlsplit(url).query))
        signatures.append(query.get("x-oss-signature") or query["Signature"])
    token = creds.security_token
    needles = {
        "secret": creds.access_key_secret,
        "token": token,
        "token (url-encoded)": quote(token, safe=""),
        **{f"signature {i}": s for i, s in enumerate(signatures)},
        **{f"signature {i} (url-encoded)": quote(s, safe="") for i, s in enumerate(signatures)},
    }
    logs = root_capture.getvalue() + "\n".join(r.getMessage() for r in caplog.records)
    everything = logs + "\n".join(shown)
    # The capture is real: the DEBUG request lines, retries and failures are in it.
    assert "HEAD oss://" in logs and "retry" in logs and "SignatureDoesNotMatch" in everything
    leaks = [name for name, value in needles.items() if value and value in everything]
    assert not leaks, f"leaked: {leaks}"


def test_no_secret_in_checkpoint_records(
    creds: Any, bucket: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """Resume records of interrupted transfers name files and upload ids, never credentials."""
    src = tmp_path / "src.bin"
    data = write_file(src, 6 * PART)
    peer_bucket(creds, bucket).put_object("obj", data)
    ckpt = tmp_path / "ckpt"
    cfg = QUICK.model_copy(update={"concurrency": 1, "max_retries": 0, "checkpoint_dir": ckpt})

    def break_after_two(event: Any) -> None:
        if event.bytes_done >= 2 * PART:
            oss_server.faults = FaultConfig(fail_rate=1.0)

    async def main() -> None:
        async with oss_session(creds, cfg) as oss:
            up = await oss.upload(bucket, "k", str(src), progress=break_after_two)
            oss_server.faults = FaultConfig()
            down = await oss.download(
                bucket, "obj", str(tmp_path / "d.bin"), progress=break_after_two
            )
            oss_server.faults = FaultConfig()
            assert not up.success and not down.success

    run(main())
    records = sorted(ckpt.glob("*.json"))
    assert len(records) == 2  # one interrupted upload, one interrupted download
    text = "".join(p.read_text() for p in records)
    assert "upload_id" in text and "temp_path" in text
    token = creds.security_token
    for secret in (creds.access_key_secret, token, quote(token, safe="")):
        assert secret not in text
