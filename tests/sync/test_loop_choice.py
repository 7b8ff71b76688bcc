"""AGENTBAY_OSS_LOOP: the blocking facade's private loop (and so the CLI's) on uvloop when
asked, asyncio's otherwise; a choice that cannot be honoured is logged, never a failure."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import Creds


def _run(creds: Creds, bucket: str, tmp_path: Path, loop: str) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300_000))
    script = textwrap.dedent(
        f"""
        import logging
        from agentbay_oss import AgentBay
        from agentbay_oss.sync import _portal

        logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
        with AgentBay() as agent_bay:
            s = agent_bay.create().session
            s.oss.env_init({creds.access_key_id!r}, {creds.access_key_secret!r},
                           {creds.security_token!r}, {creds.endpoint!r}, {creds.region!r})
            up = s.oss.upload({bucket!r}, "loop.bin", {str(src)!r})
            down = s.oss.download({bucket!r}, "loop.bin", {str(tmp_path / "back.bin")!r})
            print("RESULTS", up.success, down.success)
            print("LOOP", type(_portal._portal.loop()).__module__)
            s.delete()
        """
    )
    env = {**os.environ, "AGENTBAY_OSS_LOOP": loop}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )


def test_uvloop_when_asked(creds: Creds, bucket: str, tmp_path: Path) -> None:
    done = _run(creds, bucket, tmp_path, "uvloop")
    assert done.returncode == 0, done.stderr
    assert "RESULTS True True" in done.stdout
    assert "LOOP uvloop" in done.stdout
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "f.bin").read_bytes()
    assert "LOG" not in done.stderr


def test_an_unknown_choice_is_logged_and_asyncio_used(
    creds: Creds, bucket: str, tmp_path: Path
) -> None:
    done = _run(creds, bucket, tmp_path, "tokio")
    assert done.returncode == 0, done.stderr
    assert "RESULTS True True" in done.stdout
    assert "LOOP asyncio" in done.stdout
    assert "LOG AGENTBAY_OSS_LOOP='tokio' is neither asyncio nor uvloop" in done.stderr
