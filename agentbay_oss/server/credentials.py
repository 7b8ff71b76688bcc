"""`OssCredentials`: what a client needs to talk to a local server (endpoint, keys, region).

The pytest plugin's `oss_credentials` fixture, `LocalOssServer.credentials` and the ready
line of `serve` all hand out this one type. No I/O and no aiohttp: the plugin imports it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class OssCredentials:
    endpoint: str
    access_key_id: str
    access_key_secret: str
    region: str
    security_token: str | None = None
    bucket: str | None = None  # set by the plugin when the test also uses `oss_bucket`

    def __repr__(self) -> str:  # secrets stay out of logs and pytest's assertion output
        token = ", security_token=***" if self.security_token else ""
        return (
            f"OssCredentials(endpoint={self.endpoint!r}, access_key_id={self.access_key_id!r}, "
            f"access_key_secret=***{token}, region={self.region!r}, bucket={self.bucket!r})"
        )

    def with_bucket(self, bucket: str) -> OssCredentials:
        return replace(self, bucket=bucket)

    def env(self) -> dict[str, str]:
        """The OSS_* variables our CLI (and the official clients' env providers) read."""
        out = {
            "OSS_ENDPOINT": self.endpoint,
            "OSS_REGION": self.region,
            "OSS_ACCESS_KEY_ID": self.access_key_id,
            "OSS_ACCESS_KEY_SECRET": self.access_key_secret,
        }
        if self.security_token:
            out["OSS_SESSION_TOKEN"] = self.security_token
        return out


def generate_key_pair() -> tuple[str, str]:
    """A fresh (access key id, secret) for a throwaway local server, shaped like OSS's."""
    return "LTAI" + secrets.token_hex(10), secrets.token_urlsafe(24)


__all__ = ["OssCredentials", "generate_key_pair"]
