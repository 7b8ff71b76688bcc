"""`serve`: run the local OSS server from the command line (wired into `agentbay-oss serve`).

Prints exactly one line, `listening on http://HOST:PORT`, once it accepts
connections, then serves until SIGINT or SIGTERM. Without a bucket (no --bucket, none in
--root) it says on stderr how to get one.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .faults import FaultConfig

if TYPE_CHECKING:
    from .embedded import LocalOssServer


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def _port(text: str) -> int:
    value = _non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0..65535; 0 picks a free one)")
    return value


def _bucket(text: str) -> str:
    # The rule of LocalOssServer and PutBucket: what OSS accepts. Imported here, when a
    # --bucket is given, so that --help stays free of the SDK's imports.
    from ..protocol.keys import bucket_name_problem

    problem = bucket_name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `serve`, added to `parser` (a subcommand parser or a standalone one)."""
    env_ak, env_sk = os.environ.get("OSS_ACCESS_KEY_ID"), os.environ.get("OSS_ACCESS_KEY_SECRET")
    g = parser.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    g.add_argument("--port", type=_port, default=0, help="TCP port; 0 picks a free one (default)")
    g.add_argument(
        "--root",
        type=Path,
        default=None,
        help="data directory (default: a temp dir removed on exit)",
    )
    g.add_argument(
        "--access-key-id",
        default=env_ak,
        metavar="AK",
        help="accepted access key id (required unless $OSS_ACCESS_KEY_ID is set)",
    )
    g.add_argument(
        "--access-key-secret",
        default=env_sk,
        metavar="SK",
        help="its secret (required unless $OSS_ACCESS_KEY_SECRET is set, which keeps it "
        "out of `ps`)",
    )
    g.add_argument(
        "--security-token",
        default=os.environ.get("OSS_SESSION_TOKEN"),
        metavar="T",
        help="require this STS token (or env OSS_SESSION_TOKEN)",
    )
    g.add_argument("--region", default="cn-hangzhou", help="region for V4 signatures")
    g.add_argument(
        "--bucket",
        dest="buckets",
        action="append",
        type=_bucket,
        default=[],
        metavar="NAME",
        help="create this private bucket (repeatable; none by default). Names follow OSS's "
        "rule: 3-63 lowercase letters, digits and '-', starting and ending with a letter or "
        "digit",
    )
    g.add_argument(
        "--public-bucket",
        dest="public_buckets",
        action="append",
        type=_bucket,
        default=[],
        metavar="NAME",
        help="create this bucket with anonymous read and write (repeatable)",
    )
    g.add_argument(
        "--host-suffix",
        default=None,
        metavar="DOMAIN",
        help="also serve virtual-hosted requests: a Host of BUCKET.DOMAIN names the bucket "
        "(the endpoint to give clients is then http://DOMAIN:PORT)",
    )
    g.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per request to stderr (operation, path, status; never query strings)",
    )
    parser.set_defaults(serve_parser=parser)  # run_serve reports missing credentials with it
    f = parser.add_argument_group("fault injection")
    f.add_argument(
        "--fail-rate", type=_rate, default=0.0, metavar="F", help="503 for this share of requests"
    )
    f.add_argument(
        "--reset-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="drop this share of connections mid-body",
    )
    f.add_argument(
        "--latency-ms", type=_non_negative, default=0, metavar="N", help="delay every request"
    )
    f.add_argument(
        "--seed", type=int, default=None, metavar="N", help="seed for reproducible faults"
    )
    f.add_argument(
        "--corrupt-rate", type=_rate, default=0.0, metavar="F", help="flip a byte of GET bodies"
    )
    f.add_argument(
        "--bad-crc-rate", type=_rate, default=0.0, metavar="F", help="send wrong CRC64 headers"
    )
    f.add_argument(
        "--throttle-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="503 with x-oss-qos-delay-time",
    )


async def _serve(srv: LocalOssServer) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on Windows: Ctrl-C still ends asyncio.run.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await srv.start_async()
    try:
        print(f"listening on {srv.endpoint}", flush=True)
        assert srv._storage is not None  # started; on its own loop, like this coroutine
        if not srv._storage.list_buckets():
            print(
                "no bucket yet: restart with --bucket NAME, or create one with a signed "
                "PutBucket (e.g. oss2's Bucket.create_bucket())",
                file=sys.stderr,
                flush=True,
            )
        await stop.wait()
    finally:
        await srv.stop_async()


def run_serve(args: argparse.Namespace) -> int:
    """Run until interrupted; 0 on a clean stop, 1 when the server cannot start.

    Credentials missing from both flags and environment are a usage error (exit 2).
    """
    missing = [
        f"{flag} (or ${env})"
        for flag, env, value in (
            ("--access-key-id", "OSS_ACCESS_KEY_ID", args.access_key_id),
            ("--access-key-secret", "OSS_ACCESS_KEY_SECRET", args.access_key_secret),
        )
        if not value
    ]
    if missing:
        parser: argparse.ArgumentParser = args.serve_parser
        parser.error("the server needs credentials: pass " + " and ".join(missing))
    if getattr(args, "access_log", False):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        logging.getLogger("agentbay_oss.server").setLevel(logging.INFO)
    root: Path | None = args.root
    if root is not None and root.exists() and not root.is_dir():
        print(f"error: --root {root} exists and is not a directory", file=sys.stderr)
        return 2
    # Imported only to serve: `agentbay-oss --help` builds these flags without them.
    import asyncio

    from .embedded import LocalOssServer

    faults = FaultConfig(
        fail_rate=args.fail_rate,
        reset_rate=args.reset_rate,
        latency_ms=args.latency_ms,
        seed=args.seed,
        corrupt_rate=args.corrupt_rate,
        bad_crc_rate=args.bad_crc_rate,
        throttle_rate=args.throttle_rate,
    )
    srv = LocalOssServer(
        root=root,
        host=args.host,
        port=args.port,
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        security_token=args.security_token or None,
        region=args.region,
        buckets=tuple(args.buckets),
        public_buckets=tuple(args.public_buckets),
        faults=faults,
        host_suffix=args.host_suffix,
    )
    try:
        asyncio.run(_serve(srv))
    except OSError as exc:
        print(
            f"error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0


__all__ = ["add_serve_arguments", "run_serve"]
