"""Blocking facade: `AgentBay`, `Session`, `Oss`, the async core run on a private loop thread.

Same names as `agentbay_oss.aio` without the `Async` prefix, same signatures and results.
"""

from __future__ import annotations

from ._api import AgentBay, Oss, Session

__all__ = ["AgentBay", "Oss", "Session"]
