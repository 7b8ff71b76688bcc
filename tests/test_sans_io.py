"""The sans-I/O rooms import no I/O library: they are usable (and testable) without sockets."""

from __future__ import annotations

import ast
from pathlib import Path

import agentbay_oss

PACKAGE = Path(agentbay_oss.__file__).parent
SANS_IO = [*sorted((PACKAGE / "protocol").glob("*.py")), PACKAGE / "errors.py"]
IO_MODULES = {"aiohttp", "asyncio", "socket", "ssl", "aiofiles", "anyio", "multidict", "yarl"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "aio":
            roots.add("agentbay_oss.aio")
    return roots


def test_sans_io_modules_import_no_io_library() -> None:
    assert len(SANS_IO) >= 6
    offenders = {p.name: sorted(_imported_roots(p) & IO_MODULES) for p in SANS_IO}
    assert {name: mods for name, mods in offenders.items() if mods} == {}
