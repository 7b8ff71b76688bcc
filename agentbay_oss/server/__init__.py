"""An OSS-compatible local server (aiohttp.web): storage on disk, V1/V4/STS auth, fault injection.

from agentbay_oss.server import LocalOssServer, FaultConfig
with LocalOssServer(security_token="T", buckets=("b",)) as srv:
    print(srv.endpoint)
"""

from .embedded import LocalOssServer
from .errors import OssError
from .faults import FaultConfig, ServerStats

__all__ = ["FaultConfig", "LocalOssServer", "OssError", "ServerStats"]
