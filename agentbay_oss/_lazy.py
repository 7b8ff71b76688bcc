"""Lazy package attributes (PEP 562): `import agentbay_oss.cli` must not import aiohttp,
pydantic or rich, so `agentbay-oss --version` and `--help` start in a few tens of ms.

A package lists what it exports per module; the module is imported on first access of one
of its names, and the name is then cached in the package's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, tuple[str, ...]]
) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `exports` maps a relative module to its names."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
