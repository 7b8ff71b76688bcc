"""`serve`: run the local OSS server from the command line (wired into `agentbay-oss serve`).

Prints exactly one line once it accepts connections,

    listening on http://HOST:PORT OSS_ENDPOINT=... OSS_REGION=... OSS_ACCESS_KEY_ID=... ...

(the endpoint, then the client's variables), then serves until SIGINT or SIGTERM. Without a
bucket (no --bucket, none in --root) it says on stderr how to get one. Every option can also
come from the environment (`_ENV`), and `GET /-/health` answers without credentials.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .credentials import OssCredentials, generate_key_pair
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be >= 0 seconds (0 turns it off)")
    return value


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (1/0, true/false, yes/no)")


def _names(convert: Callable[[str], str]) -> Callable[[str], list[str]]:
    """A list of bucket names from one variable (separated by commas or spaces)."""
    return lambda text: [convert(n) for n in text.replace(",", " ").split()]


# Every option of `serve` can come from the environment; a flag wins over its variable.
# The credentials and the region use the names the rest of the CLI (and the official
# clients) read; the server's own options are AGENTBAY_OSS_SERVE_<FLAG>.
ENV_PREFIX = "AGENTBAY_OSS_SERVE_"
_ENV: dict[str, tuple[tuple[str, ...], Callable[[str], Any], Any]] = {
    # dest: (variables, first one set wins; conversion; default)
    "host": ((ENV_PREFIX + "HOST",), str, "127.0.0.1"),
    "port": ((ENV_PREFIX + "PORT",), _port, 0),
    "root": ((ENV_PREFIX + "ROOT",), Path, None),
    "access_key_id": (("OSS_ACCESS_KEY_ID",), str, None),
    "access_key_secret": (("OSS_ACCESS_KEY_SECRET",), str, None),
    "security_token": (("OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN"), str, None),
    "region": (("OSS_REGION",), str, "cn-hangzhou"),
    "buckets": ((ENV_PREFIX + "BUCKETS",), _names(_bucket), []),
    "public_buckets": ((ENV_PREFIX + "PUBLIC_BUCKETS",), _names(_bucket), []),
    "host_suffix": ((ENV_PREFIX + "HOST_SUFFIX",), str, None),
    "idle_timeout": ((ENV_PREFIX + "IDLE_TIMEOUT",), _seconds, 60.0),
    "access_log": ((ENV_PREFIX + "ACCESS_LOG",), _flag, False),
    "fail_rate": ((ENV_PREFIX + "FAIL_RATE",), _rate, 0.0),
    "reset_rate": ((ENV_PREFIX + "RESET_RATE",), _rate, 0.0),
    "latency_ms": ((ENV_PREFIX + "LATENCY_MS",), _non_negative, 0),
    "seed": ((ENV_PREFIX + "SEED",), int, None),
    "corrupt_rate": ((ENV_PREFIX + "CORRUPT_RATE",), _rate, 0.0),
    "bad_crc_rate": ((ENV_PREFIX + "BAD_CRC_RATE",), _rate, 0.0),
    "throttle_rate": ((ENV_PREFIX + "THROTTLE_RATE",), _rate, 0.0),
}


def _env_help(dest: str) -> str:
    return " or ".join("$" + name for name in _ENV[dest][0])


def apply_environment(
    args: argparse.Namespace, parser: argparse.ArgumentParser, environ: Mapping[str, str]
) -> None:
    """Fill every option not given as a flag from its variable, else its default.

    A malformed variable is a usage error naming the variable (exit 2), like a bad flag.
    """
    for dest, (names, convert, default) in _ENV.items():
        if getattr(args, dest, None) not in (None, []):
            continue  # given as a flag
        value = default
        for name in names:
            text = environ.get(name)
            if text:
                try:
                    value = convert(text)
                except (argparse.ArgumentTypeError, ValueError) as exc:
                    parser.error(f"${name}: {exc}")
                break
        setattr(args, dest, value)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `serve`, added to `parser` (a subcommand parser or a standalone one).

    Defaults are None: `run_serve` fills options not given from the environment
    (`apply_environment`), then from the defaults in `_ENV`.
    """
    g = parser.add_argument_group(
        "server", "every option can also be set by the environment variable named in its help"
    )
    g.add_argument("--host", help=f"address to bind (default 127.0.0.1; {_env_help('host')})")
    g.add_argument(
        "--port",
        type=_port,
        help=f"TCP port; 0 picks a free one (default; {_env_help('port')})",
    )
    g.add_argument(
        "--root",
        type=Path,
        help=f"data directory (default: a temp dir removed on exit; {_env_help('root')})",
    )
    g.add_argument(
        "--access-key-id",
        metavar="AK",
        help=f"accepted access key id ({_env_help('access_key_id')}); without it and "
        "its secret, a fresh pair is generated and printed on the ready line",
    )
    g.add_argument(
        "--access-key-secret",
        metavar="SK",
        help=f"its secret ({_env_help('access_key_secret')}, which keeps it out of `ps`)",
    )
    g.add_argument(
        "--security-token",
        metavar="T",
        help=f"require this STS token ({_env_help('security_token')})",
    )
    g.add_argument(
        "--region",
        help=f"region for V4 signatures (default cn-hangzhou; {_env_help('region')})",
    )
    g.add_argument(
        "--bucket",
        dest="buckets",
        action="append",
        type=_bucket,
        metavar="NAME",
        help="create this private bucket (repeatable; none by default; "
        f"{_env_help('buckets')}, names separated by commas). Names follow OSS's "
        "rule: 3-63 lowercase letters, digits and '-', starting and ending with a letter or "
        "digit",
    )
    g.add_argument(
        "--public-bucket",
        dest="public_buckets",
        action="append",
        type=_bucket,
        metavar="NAME",
        help="create this bucket with anonymous read and write (repeatable; "
        f"{_env_help('public_buckets')})",
    )
    g.add_argument(
        "--host-suffix",
        metavar="DOMAIN",
        help="also serve virtual-hosted requests: a Host of BUCKET.DOMAIN names the bucket "
        f"(the endpoint to give clients is then http://DOMAIN:PORT; {_env_help('host_suffix')})",
    )
    g.add_argument(
        "--idle-timeout",
        type=_seconds,
        metavar="S",
        help="cut a client whose request header or body stops arriving for S seconds "
        f"(default 60; 0: never; {_env_help('idle_timeout')})",
    )
    g.add_argument(
        "--access-log",
        action="store_true",
        default=None,
        help="log one line per request to stderr (operation, path, status; never query "
        f"strings; {_env_help('access_log')}=1)",
    )
    parser.set_defaults(serve_parser=parser)  # run_serve reports usage errors with it
    f = parser.add_argument_group("fault injection")
    for flag, convert, metavar, text in (
        ("--fail-rate", _rate, "F", "503 for this share of requests"),
        ("--reset-rate", _rate, "F", "drop this share of connections mid-body"),
        ("--latency-ms", _non_negative, "N", "delay every request"),
        ("--seed", int, "N", "seed for reproducible faults"),
        ("--corrupt-rate", _rate, "F", "flip a byte of GET bodies"),
        ("--bad-crc-rate", _rate, "F", "send wrong CRC64 headers"),
        ("--throttle-rate", _rate, "F", "503 with x-oss-qos-delay-time"),
    ):
        dest = flag[2:].replace("-", "_")
        f.add_argument(flag, type=convert, metavar=metavar, help=f"{text} ({_env_help(dest)})")


def ready_line(endpoint: str, credentials: OssCredentials) -> str:
    """`listening on URL` then the variables a client needs, shell-quoted (`eval`-able after
    the URL): this is the user's own throwaway server, so its secret is shown."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in credentials.env().items())
    return f"listening on {endpoint} {env}"


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (any user may), as Go's
    runtime does: the usual soft limit of 1,024 would cap `serve` near 1,000 connections.
    Returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):  # e.g. macOS caps it below "unlimited"
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


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
        print(ready_line(srv.endpoint, srv.credentials), flush=True)
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


def run_serve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Run until interrupted; 0 on a clean stop, 1 when the server cannot start.

    Options come from flags, else the environment (`apply_environment`). Half a key pair
    (an id without its secret, or the reverse) is a usage error (exit 2); neither means a
    generated pair.
    """
    parser: argparse.ArgumentParser = args.serve_parser
    apply_environment(args, parser, os.environ if environ is None else environ)
    missing = [
        f"{flag} (or ${env})"
        for flag, env, value in (
            ("--access-key-id", "OSS_ACCESS_KEY_ID", args.access_key_id),
            ("--access-key-secret", "OSS_ACCESS_KEY_SECRET", args.access_key_secret),
        )
        if not value
    ]
    if len(missing) == 1:
        parser.error("the server needs both halves of a key pair: pass " + missing[0])
    if missing:
        args.access_key_id, args.access_key_secret = generate_key_pair()
    if args.access_log:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        logging.getLogger("agentbay_oss.server").setLevel(logging.INFO)
    root: Path | None = args.root
    if root is not None and root.exists() and not root.is_dir():
        print(f"error: --root {root} exists and is not a directory", file=sys.stderr)
        return 2
    raise_open_files_limit()
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
        idle_timeout=args.idle_timeout or None,
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


__all__ = ["ENV_PREFIX", "add_serve_arguments", "apply_environment", "ready_line", "run_serve"]
