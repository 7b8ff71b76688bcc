"""What users install: the wheel holds only `agentbay_oss`, every runtime dependency is imported
by it, and it imports and runs in a fresh environment with nothing but those dependencies."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pytest

import agentbay_oss

REPO = Path(__file__).resolve().parent.parent
MODULES = ["agentbay_oss", "agentbay_oss.aio", "agentbay_oss.sync", "agentbay_oss.server"]
MODULES.append("agentbay_oss.cli")
# Used by the tests or the benchmarks only: none of them may come with the wheel.
DEV_ONLY = ["benchmarks", "oss2", "alibabacloud_oss_v2", "anyio", "aiofiles", "requests"]


def _uv() -> str:
    """`uv run` (how scripts/test runs pytest) puts the path of uv in UV."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: run the tests with `uv run pytest`, as scripts/test does")
    return found


def _run(cmd: Sequence[str | Path], cwd: Path) -> str:
    # Bytecode is written: the second start in the fresh environment reuses the first's.
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    cmd = [_uv(), "build", "--wheel", "--python", sys.executable, "--out-dir", out, REPO]
    _run(cmd, cwd=out)
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_only_agentbay_oss(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"agentbay_oss", f"agentbay_oss-{agentbay_oss.__version__}.dist-info"}
    assert "agentbay_oss/py.typed" in names
    assert "agentbay_oss/server/app.py" in names


def _import_names(distribution: str) -> set[str]:
    """Top-level names a distribution installs ("foo/...", "foo.py", "foo.cpython-3X.so")."""
    names = set()
    for f in metadata.distribution(distribution).files or []:
        top = f.parts[0]
        if top != ".." and not top.endswith((".dist-info", ".data", ".pth")):
            names.add(top.split(".")[0])
    return names


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    declared = {
        m.group(0)
        for r in metadata.requires("agentbay-oss") or []
        if "extra ==" not in r and (m := re.match(r"[A-Za-z0-9._-]+", r))
    }
    imported: set[str] = set()
    for path in (REPO / "agentbay_oss").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert declared, "no runtime dependencies found: is agentbay-oss installed?"
    unused = {d for d in declared if not _import_names(d) & imported}
    assert unused == set(), "runtime dependencies the package never imports"


def test_the_wheel_runs_with_only_its_runtime_dependencies(wheel: Path, tmp_path: Path) -> None:
    uv = _uv()
    pins = tmp_path / "runtime.txt"
    export = [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]
    _run([*export, "--project", REPO, "--output-file", pins], cwd=tmp_path)
    venv = tmp_path / "venv"
    _run([uv, "venv", "--python", sys.executable, venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run([uv, "pip", "install", "--python", py, "-r", pins, wheel], cwd=tmp_path)

    # Outside the checkout (so nothing is imported from it), warnings as errors.
    _run([py, "-W", "error", "-c", f"import {', '.join(MODULES)}"], cwd=tmp_path)
    version = _run([venv / "bin" / "agentbay-oss", "--version"], cwd=tmp_path)
    assert version.strip() == f"agentbay-oss {agentbay_oss.__version__}"
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    assert _run([py, "-c", probe, *DEV_ONLY], cwd=tmp_path).strip() == "[]"


def test_the_core_does_not_import_dask() -> None:
    """dask / distributed (the `[dask]` extra) load only when `cluster=` is given."""
    code = (
        "import sys, agentbay_oss, agentbay_oss.aio, agentbay_oss.sync, agentbay_oss.cli, "
        "agentbay_oss.aio.engine, agentbay_oss.fsspec\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
