"""The mixing rules of README "Mixing both", in a real Jupyter kernel (ipykernel, driven by
nbclient): a cell runs on the kernel's own running event loop, which is where notebook users
meet the blocking facade and top-level `await` side by side."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import Creds

# Run in a child interpreter: nbclient, jupyter_client and zmq are test machinery whose own
# warnings are not this project's; the child reports the cells' outputs as JSON.
_DRIVER = textwrap.dedent(
    """
    import json, sys
    import nbformat
    from nbclient import NotebookClient

    cells = json.loads(sys.argv[1])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True).execute()
    outputs = []
    for cell in nb.cells:
        stdout = "".join(o.text for o in cell.outputs if o.get("name") == "stdout")
        others = [o for o in cell.outputs if o.get("name") != "stdout"]
        outputs.append({"stdout": stdout, "other": [dict(o) for o in others]})
    print(json.dumps(outputs))
    """
)


def test_blocking_and_async_sessions_in_a_real_kernel(
    creds: Creds, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "f.txt"
    src.write_text("kernel")
    env_init = (
        f"env_init({creds.access_key_id!r}, {creds.access_key_secret!r}, "
        f"{creds.security_token!r}, {creds.endpoint!r}, {creds.region!r})"
    )
    cells = [
        # 1. The blocking facade from a cell, while the kernel's loop is running.
        f"""
from agentbay_oss import AgentBay
from agentbay_oss.aio import AsyncAgentBay
agent_bay = AgentBay()
s = agent_bay.create().session
print("init", s.oss.{env_init}.success)
print("blocking", s.oss.upload({bucket!r}, "blocking.txt", {str(src)!r}).success)
""",
        # 2. The async object behind that blocking session, awaited on the kernel's loop:
        #    a failed result naming the rule, not a hang or a stray exception.
        f"""
r = await s.oss.async_oss.upload({bucket!r}, "mixed.txt", {str(src)!r})
print("mixed", r.success, r.error_message)
""",
        # 3. The blocking session still works afterwards.
        f"""
print("again", s.oss.upload({bucket!r}, "again.txt", {str(src)!r}).success)
s.delete()
agent_bay.close()
""",
        # 4. In async code, AsyncAgentBay on the kernel's loop with top-level await.
        f"""
ab = AsyncAgentBay()
a = (await ab.create()).session
print("async init", (await a.oss.{env_init}).success)
print("async", (await a.oss.upload({bucket!r}, "async.txt", {str(src)!r})).success)
got = await a.oss.download_bytes({bucket!r}, "async.txt")
print("async read", got.success, got.data)
deleted = await a.delete()
""",
        # 5. Let the loop turn so any never-retrieved future would be reported now.
        """
import asyncio, gc
gc.collect()
await asyncio.sleep(0.2)
print("end")
""",
    ]
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(cells)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**_jupyter_env(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # No cell has any output but its prints: no error, nothing on stderr (no "Future
    # exception was never retrieved", no "Unclosed ..." warning).
    assert [cell["other"] for cell in out] == [[]] * len(cells), out
    stdout = [cell["stdout"] for cell in out]
    assert stdout[0] == "init True\nblocking True\n"
    assert stdout[1].startswith("mixed False ")
    assert "another event loop" in stdout[1] and "AsyncAgentBay" in stdout[1], stdout[1]
    assert stdout[2] == "again True\n"
    assert stdout[3] == "async init True\nasync True\nasync read True b'kernel'\n"
    assert stdout[4] == "end\n"
    assert "never retrieved" not in done.stderr


def _jupyter_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    # Kernel connection files and runtime state in the test's own directory (the suite also
    # runs as an unprivileged user whose $HOME may not be writable).
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "jupyter-runtime")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env
