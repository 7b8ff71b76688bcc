"""Blocking facade: `AgentBay`, `Session`, `Oss`, the async core run on a private loop thread."""
