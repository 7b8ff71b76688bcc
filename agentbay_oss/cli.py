"""`agentbay-oss`: copy, list, remove and presign OSS objects; run the local server or the demo.

Credentials and endpoint come from flags or from the environment variables the official
clients use (OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN, OSS_ENDPOINT,
OSS_REGION). Operational errors end with a one-line message on stderr and exit code 1; usage
errors exit 2 (argparse's convention); no traceback unless AGENTBAY_OSS_DEBUG is set.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

PROG = "agentbay-oss"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operational error: printed as one line on stderr, exit code 1."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------------------- locations
@dataclass(frozen=True)
class Location:
    """One side of `cp`: a local path, an OSS object or prefix, or an http(s) URL."""

    kind: Literal["local", "oss", "url"]
    value: str  # the local path or the URL
    bucket: str = ""
    key: str = ""


def parse_location(text: str) -> Location:
    """Classify a command-line location. `oss://bucket/key`, `http(s)://...`, else a path."""
    lowered = text[:8].lower()
    if lowered.startswith("oss://"):
        rest = text[len("oss://") :]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise CliError(f"no bucket in {text!r}: expected oss://bucket/key", EXIT_USAGE)
        return Location("oss", text, bucket=bucket, key=key)
    if lowered.startswith(("http://", "https://")):
        return Location("url", text)
    if not text:
        raise CliError("empty path", EXIT_USAGE)
    return Location("local", text)


def parse_oss_url(text: str) -> Location:
    location = parse_location(text)
    if location.kind != "oss":
        raise CliError(f"expected oss://bucket/key, got {text!r}", EXIT_USAGE)
    return location


# ---------------------------------------------------------------------------- parser
def _add_common(parser: argparse.ArgumentParser, *, credentials: bool) -> None:
    out = parser.add_argument_group("output")
    mode = out.add_mutually_exclusive_group()
    mode.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    mode.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    if not credentials:
        return
    env = os.environ.get
    auth = parser.add_argument_group(
        "credentials and endpoint (default: the OSS_* environment variables)"
    )
    auth.add_argument("--endpoint", default=env("OSS_ENDPOINT"), help="$OSS_ENDPOINT")
    auth.add_argument("--region", default=env("OSS_REGION"), help="$OSS_REGION")
    auth.add_argument(
        "--access-key-id", default=env("OSS_ACCESS_KEY_ID"), help="$OSS_ACCESS_KEY_ID"
    )
    auth.add_argument(
        "--access-key-secret",
        default=env("OSS_ACCESS_KEY_SECRET"),
        help="$OSS_ACCESS_KEY_SECRET (prefer the variable: flags show up in `ps`)",
    )
    auth.add_argument(
        "--security-token",
        default=env("OSS_SESSION_TOKEN") or env("OSS_SECURITY_TOKEN"),
        help="$OSS_SESSION_TOKEN (STS)",
    )


def build_parser() -> argparse.ArgumentParser:
    from agentbay_oss import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fast, safe transfers between this machine and Alibaba Cloud OSS.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    cp = sub.add_parser(
        "cp",
        help="copy files or directories to, from or between OSS and URLs",
        description=(
            "Each side is a local path, oss://bucket/key or an http(s) URL (anonymous, e.g. a "
            "presigned URL). Upload: local -> oss:// or URL. Download: oss:// or URL -> local."
        ),
    )
    cp.add_argument("src")
    cp.add_argument("dst")
    cp.add_argument("-r", "--recursive", action="store_true", help="copy directories/prefixes")
    _add_common(cp, credentials=True)

    ls = sub.add_parser("ls", help="list objects under oss://bucket/prefix")
    ls.add_argument("url", metavar="oss://bucket/prefix")
    ls.add_argument("-r", "--recursive", action="store_true", help="list every key, not one level")
    _add_common(ls, credentials=True)

    rm = sub.add_parser("rm", help="remove an object, or every object under a prefix with -r")
    rm.add_argument("url", metavar="oss://bucket/key")
    rm.add_argument("-r", "--recursive", action="store_true", help="remove everything under key")
    _add_common(rm, credentials=True)

    presign = sub.add_parser("presign", help="print a presigned URL for an object")
    presign.add_argument("url", metavar="oss://bucket/key")
    presign.add_argument("--method", default="GET", type=str.upper, choices=["GET", "PUT"])
    presign.add_argument(
        "--expires", type=int, default=3600, metavar="S", help="seconds (default 3600)"
    )
    _add_common(presign, credentials=True)

    serve = sub.add_parser("serve", help="run the OSS-compatible local server (offline testing)")
    try:
        from agentbay_oss.server.cli import add_serve_arguments
    except ImportError as exc:  # the server is an optional room while it is being built
        serve.set_defaults(serve_unavailable=str(exc))
    else:
        add_serve_arguments(serve)

    demo = sub.add_parser(
        "demo", help="upload and download a sample tree through an embedded local server"
    )
    demo.add_argument(
        "--big-mib", type=int, default=256, metavar="MIB", help="size of the big file (256)"
    )
    demo.add_argument("--keep", action="store_true", help="keep the temp directory")
    _add_common(demo, credentials=False)
    return parser


# ---------------------------------------------------------------------------- commands
def _cmd_serve(args: argparse.Namespace) -> int:
    unavailable = getattr(args, "serve_unavailable", None)
    if unavailable:
        raise CliError(f"the local server is not available: {unavailable}")
    from agentbay_oss.server.cli import run_serve

    return run_serve(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from agentbay_oss.demo import run_demo

    return run_demo(big_mib=args.big_mib, keep=args.keep, quiet=args.quiet, as_json=args.json)


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        return _cmd_serve(args)
    if command == "demo":
        return _cmd_demo(args)
    handlers = {"cp": _cmd_cp, "ls": _cmd_ls, "rm": _cmd_rm, "presign": _cmd_presign}
    return handlers[command](args)


def _cmd_cp(args: argparse.Namespace) -> int:
    raise CliError("cp: not available yet")


def _cmd_ls(args: argparse.Namespace) -> int:
    raise CliError("ls: not available yet")


def _cmd_rm(args: argparse.Namespace) -> int:
    raise CliError("rm: not available yet")


def _cmd_presign(args: argparse.Namespace) -> int:
    raise CliError("presign: not available yet")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `agentbay-oss` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(os.environ.get("AGENTBAY_OSS_DEBUG"))
    try:
        return _dispatch(args)
    except CliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        if debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
