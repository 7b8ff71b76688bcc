"""Start-up: `--version` and `--help` import none of the heavy dependencies (issue 14).

A module-set assertion, not a timing one: aiohttp, pydantic and rich are what made
`agentbay-oss --version` take over a second.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import agentbay_oss
import agentbay_oss.server

_PROBE = """
import contextlib, io, json, sys
sys.argv = ["agentbay-oss", *json.loads(sys.argv[1])]
from agentbay_oss.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main()
heavy = sorted(m for m in ("aiohttp", "pydantic", "rich") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["cp", "--help"], ["serve", "--help"]])
def test_version_and_help_import_no_heavy_module(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"code": 0, "heavy": []}


def test_lazy_package_attributes_resolve() -> None:
    for name in agentbay_oss.__all__:
        assert getattr(agentbay_oss, name) is not None
    assert agentbay_oss.TransferConfig.__module__ == "agentbay_oss.config"
    for name in agentbay_oss.server.__all__:
        assert getattr(agentbay_oss.server, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        agentbay_oss.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
