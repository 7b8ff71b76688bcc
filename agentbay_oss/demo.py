"""`agentbay-oss demo`: a round trip of a sample tree through an embedded local OSS server."""

from __future__ import annotations


def run_demo(
    *, big_mib: int = 256, keep: bool = False, quiet: bool = False, as_json: bool = False
) -> int:
    """Run the demo; returns the process exit code (0 when every byte came back intact)."""
    raise NotImplementedError("the demo needs the local server and the async core")
