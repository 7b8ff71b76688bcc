"""Mixing the APIs: the async objects behind a blocking session on the caller's own loop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import Creds


def test_async_oss_of_a_blocking_session_on_another_loop_is_a_clear_error(
    creds: Creds, bucket: str, tmp_path: Path
) -> None:
    """As a user's script would do it, in a fresh interpreter: the failure is a result, and
    nothing is printed at exit ("Future exception was never retrieved", "Unclosed ...")."""
    (tmp_path / "f.txt").write_text("x")
    script = textwrap.dedent(
        f"""
        import asyncio
        from agentbay_oss import AgentBay

        with AgentBay() as agent_bay:
            s = agent_bay.create().session
            s.oss.env_init({creds.access_key_id!r}, {creds.access_key_secret!r},
                           {creds.security_token!r}, {creds.endpoint!r}, {creds.region!r})
            assert s.oss.upload({bucket!r}, "a.txt", {str(tmp_path / "f.txt")!r}).success

            async def mixed():
                return await s.oss.async_oss.upload({bucket!r}, "b.txt",
                                                    {str(tmp_path / "f.txt")!r})

            r = asyncio.run(mixed())
            print("SUCCESS", r.success)
            print("MESSAGE", r.error_message)
            assert s.oss.upload({bucket!r}, "c.txt", {str(tmp_path / "f.txt")!r}).success
            s.delete()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "SUCCESS False" in done.stdout
    assert "another event loop" in done.stdout and "AsyncAgentBay" in done.stdout
    assert done.stderr == ""
