"""An OSS-compatible local server (aiohttp.web): storage on disk, V1/V4/STS auth, fault injection.

from agentbay_oss.server import LocalOssServer, FaultConfig
with LocalOssServer(security_token="T", buckets=("my-bucket",)) as srv:
    print(srv.endpoint)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Imported on first use (PEP 562): `agentbay-oss --help` builds `serve`'s flags without aiohttp.
if TYPE_CHECKING:
    from .embedded import LocalOssServer
    from .errors import OssError
    from .faults import FaultConfig, ServerStats
else:
    from .._lazy import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        globals(),
        {
            ".embedded": ("LocalOssServer",),
            ".errors": ("OssError",),
            ".faults": ("FaultConfig", "ServerStats"),
        },
    )

__all__ = ["FaultConfig", "LocalOssServer", "OssError", "ServerStats"]
