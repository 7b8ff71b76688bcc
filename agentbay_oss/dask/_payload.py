"""What a task carries to a worker: the session's endpoint, credentials and transfer config.

The secret and the STS token travel in the pickled payload (the cluster's comm is the user's
to secure: TLS for a remote scheduler), never in a repr: Dask's dashboard and logs show task
arguments by repr. `token` keys the worker's engine cache: new credentials (an STS refresh)
or another config make a new token, hence a new engine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from ..aio._client import Endpoint, OssClient
from ..config import TransferConfig
from ..protocol.signing import Credentials


@dataclass(frozen=True)
class WorkerConfig:
    endpoint: Endpoint
    signature_version: str
    creds: Credentials  # its repr masks the key id and hides the secret and token
    config: TransferConfig

    def __repr__(self) -> str:
        return f"WorkerConfig({self.endpoint.base}, {self.creds!r})"

    __str__ = __repr__

    @cached_property
    def token(self) -> str:
        """A digest of everything an engine is built from (one-way: the secret is not in it)."""
        h = hashlib.sha256()
        c = self.creds
        for part in (
            repr(self.endpoint),
            self.signature_version,
            c.access_key_id,
            c.access_key_secret,
            c.security_token or "",
            self.config.model_dump_json(),
        ):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()


async def payload_of(client: OssClient) -> WorkerConfig:
    """The current payload of a session (asks a credentials provider first if they are due,
    so workers get refreshed STS credentials). Workers keep no checkpoints: a lost batch is
    rerun by Dask, and coordinator-split files are resumed by nobody but the coordinator."""
    creds = await client._current_creds()
    config = client.core.config.model_copy(update={"checkpoint_dir": None})
    return WorkerConfig(client.endpoint, client.signature_version, creds, config)
