"""Plain-HTTP helpers for the server tests: raw requests that never raise on an HTTP status."""

from __future__ import annotations

import contextlib
import http.client as httpclient
import socket
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import alibabacloud_oss_v2 as v2

from agentbay_oss.protocol import signing

PLAIN_AK, PLAIN_SK = "LTAI5tPlainKeyId", "plain-secret-value"


def make_v2_client(
    endpoint: str,
    ak: str,
    sk: str,
    token: str | None,
    version: str,
    region: str = "cn-hangzhou",
    path_style: bool = True,
) -> v2.Client:
    cfg = v2.config.load_default()
    cfg.credentials_provider = v2.credentials.StaticCredentialsProvider(ak, sk, token or "")
    cfg.region = region
    cfg.endpoint = endpoint
    cfg.use_path_style = path_style
    cfg.signature_version = version
    cfg.retry_max_attempts = 1  # a conformance test wants the first answer, not a retry
    return v2.Client(cfg)


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one plain request (http.client adds no Content-Type)."""
    parts = urlsplit(url)
    conn = httpclient.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def error_code(body: bytes) -> str:
    root = ElementTree.fromstring(body)
    assert root.tag == "Error", body[:200]
    return root.findtext("Code") or ""


def error_field(body: bytes, name: str) -> str:
    return ElementTree.fromstring(body).findtext(name) or ""


def object_url(endpoint: str, bucket: str, key: str = "", query: str = "") -> str:
    url = f"{endpoint}/{bucket}/{quote(key, safe='/')}"
    return url + ("?" + query if query else "")


def signed(
    creds: Any,
    method: str,
    bucket: str,
    key: str = "",
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    query: list[tuple[str, str | None]] | None = None,
    version: str = "v1",
    now: datetime | None = None,
    secret: str | None = None,
    token: Any = "default",
) -> tuple[int, dict[str, str], bytes]:
    """A request signed by our sans-I/O signer (lets a test skew the clock or the keys)."""
    c = signing.Credentials(
        creds.access_key_id,
        secret if secret is not None else creds.access_key_secret,
        creds.security_token if token == "default" else token,
    )
    h = dict(headers or {})
    q = list(query or [])
    when = now or datetime.now(timezone.utc)
    if version == "v4":
        signing.sign_v4(c, creds.region, method, bucket, key, q, h, when)
    else:
        signing.sign_v1(c, method, bucket, key, q, h, when)
    url = object_url(creds.endpoint, bucket, key, signing.encode_query(q))
    return http(method, url, body, h)


def raw(endpoint: str, data: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send raw bytes, return (status, whole response). 0 when the server just closed."""
    parts = urlsplit(endpoint)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    resp = b"".join(chunks)
    if not resp.startswith(b"HTTP/1."):
        return 0, resp
    return int(resp.split(b" ", 2)[1]), resp


def response_body(resp: bytes) -> bytes:
    return resp.partition(b"\r\n\r\n")[2]


def make_s3_client(
    endpoint: str,
    ak: str,
    sk: str,
    token: str | None = None,
    region: str = "us-east-1",
) -> Any:
    """A boto3 S3 client on the local server: path style, SigV4, one attempt per call."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ak,
        aws_secret_access_key=sk,
        aws_session_token=token,
        region_name=region,
        config=config,
    )
