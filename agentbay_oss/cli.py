"""`agentbay-oss`: copy, list, remove and presign OSS objects; run the local server or the demo.

Credentials and endpoint come from flags or from the environment variables the official
clients use (OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN, OSS_ENDPOINT,
OSS_REGION). Operational errors end with a one-line message on stderr and exit code 1; usage
errors exit 2 (argparse's convention); no traceback unless AGENTBAY_OSS_DEBUG is set.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agentbay_oss.aio import ProgressHook
    from agentbay_oss.models import ApiResponse, OSSDownloadResult, OSSUploadResult, ProgressEvent
    from agentbay_oss.sync import Oss, Session

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


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2}
_UNITS |= {"mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3}


def parse_size(text: str) -> int:
    """A byte count with an optional unit: 1048576, 100KiB, 8MiB, 1G (K/M/G are binary)."""
    number = text.strip().rstrip("bBiI").rstrip("kKmMgG ")
    unit = text.strip()[len(number) :].strip().lower()
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 8MiB") from None
    if unit not in _UNITS or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 8MiB")
    return int(value * _UNITS[unit])


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
    tuning = cp.add_argument_group("transfer (default: TransferConfig's defaults)")
    tuning.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight, all files together"
    )
    tuning.add_argument(
        "--part-size",
        type=parse_size,
        metavar="SIZE",
        help="multipart part / range size, e.g. 8MiB",
    )
    tuning.add_argument(
        "--multipart-threshold",
        type=parse_size,
        metavar="SIZE",
        help="files from this size go multipart, e.g. 16MiB",
    )
    tuning.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="keep resume records here: rerunning an interrupted cp sends only what is missing",
    )
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

    if args.big_mib < 0:
        raise CliError("--big-mib must be >= 0", EXIT_USAGE)

    return run_demo(big_mib=args.big_mib, keep=args.keep, quiet=args.quiet, as_json=args.json)


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        return _cmd_serve(args)
    if command == "demo":
        return _cmd_demo(args)
    handlers = {"cp": _cmd_cp, "ls": _cmd_ls, "rm": _cmd_rm, "presign": _cmd_presign}
    return handlers[command](args)


# ---------------------------------------------------------------------------- output
class _Reporter:
    """Progress on stderr (a rich bar on a terminal, nothing otherwise), results on stdout."""

    def __init__(self, args: argparse.Namespace) -> None:
        from rich.console import Console

        self.quiet: bool = args.quiet
        self.as_json: bool = args.json
        self.err = Console(stderr=True)
        self.out = Console(highlight=False, soft_wrap=True)

    @property
    def bars(self) -> bool:
        return not (self.quiet or self.as_json) and self.err.is_terminal

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[ProgressHook | None]:
        """A progress hook for the core, drawing a bar while the block runs (None: no bar)."""
        if not self.bars:
            yield None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[files]}"),
            console=self.err,
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=None, files="")

            def hook(event: ProgressEvent) -> None:
                # Runs on the loop thread; rich's Progress is thread-safe.
                # While a tree or listing is still being walked the totals only grow: no
                # percentage or ETA until they are final.
                final = event.totals_final
                total = event.bytes_total if final else None
                files = f"{event.files_done}/{event.files_total}{'' if final else '+'} files"
                bar.update(task, completed=event.bytes_done, total=total, files=files)

            yield hook

    def result(self, result: ApiResponse, text: str | None = None) -> None:
        """Print a result: JSON with --json, `text` (or its content) unless --quiet."""
        if self.as_json:
            print(result.model_dump_json(indent=2))
        elif not self.quiet and text:
            self.out.print(text, markup=False)


# env_init's hints name its Python parameters; on the command line the flags and variables
# stand in their place.
_CLI_HINTS = {
    "pass region= (for example region='cn-hangzhou')": (
        "pass --region (for example --region cn-hangzhou) or set OSS_REGION"
    ),
}


def _as_cli_hint(message: str) -> str:
    for python_form, cli_form in _CLI_HINTS.items():
        message = message.replace(python_form, cli_form)
    return message


def _check(result: ApiResponse, what: str) -> None:
    """Fail with the result's own message (it already says what, where and what to do)."""
    if not result.success:
        raise CliError(result.error_message or f"{what}: failed")


@contextlib.contextmanager
def _oss(args: argparse.Namespace, *, credentials: bool = True) -> Iterator[Oss]:
    """A blocking `Oss` with env_init done from flags / environment (none for anonymous use)."""
    from agentbay_oss import AgentBay

    if credentials:
        missing = [
            flag
            for flag, value in (
                ("--access-key-id / $OSS_ACCESS_KEY_ID", args.access_key_id),
                ("--access-key-secret / $OSS_ACCESS_KEY_SECRET", args.access_key_secret),
            )
            if not value
        ]
        if missing:
            raise CliError("missing credentials: set " + " and ".join(missing))
    tuning = {
        name: getattr(args, name)
        for name in ("concurrency", "part_size", "multipart_threshold", "checkpoint_dir")
        if getattr(args, name, None) is not None
    }
    # An invalid value makes create() fail with a message naming the field.
    with AgentBay(config=tuning or None) as agent_bay:
        created = agent_bay.create()
        _check(created, "could not create a session")
        session: Session = created.session
        try:
            if credentials:
                init = session.oss.env_init(
                    args.access_key_id,
                    args.access_key_secret,
                    args.security_token,
                    args.endpoint,
                    args.region,
                )
                if not init.success:
                    raise CliError(_as_cli_hint(init.error_message) or "invalid OSS configuration")
            yield session.oss
        finally:
            session.delete()


# ---------------------------------------------------------------------------- cp ls rm presign
def _cmd_cp(args: argparse.Namespace) -> int:
    src, dst = parse_location(args.src), parse_location(args.dst)
    report = _Reporter(args)
    if src.kind == "local":
        if dst.kind == "local":
            raise CliError("both sides are local paths: use your shell's cp", EXIT_USAGE)
        if not os.path.exists(src.value):
            raise CliError(f"{src.value}: no such file or directory")
        if os.path.isdir(src.value) and not args.recursive:
            raise CliError(f"{src.value} is a directory (use -r to copy it)", EXIT_USAGE)
        with _oss(args, credentials=dst.kind == "oss") as oss, report.progress("upload") as hook:
            if dst.kind == "oss":
                key = dst.key
                if not key and not os.path.isdir(src.value):
                    key = os.path.basename(os.path.abspath(src.value))
                result: OSSUploadResult | OSSDownloadResult = oss.upload(
                    dst.bucket, key, src.value, progress=hook
                )
            else:
                result = oss.upload_anonymous(dst.value, src.value, progress=hook)
        _check(result, f"upload of {src.value} to {_shown(dst)} failed")
        report.result(result, result.content)
        return EXIT_OK
    if dst.kind != "local":
        raise CliError(
            "copies between two remote locations are not supported: download, then upload",
            EXIT_USAGE,
        )
    if src.kind == "oss":
        if (not src.key or src.key.endswith("/")) and not args.recursive:
            raise CliError(f"{src.value} is a prefix (use -r to copy it)", EXIT_USAGE)
        with _oss(args) as oss, report.progress("download") as hook:
            result = oss.download(src.bucket, src.key, dst.value, progress=hook)
    else:
        with _oss(args, credentials=False) as oss, report.progress("download") as hook:
            result = oss.download_anonymous(src.value, dst.value, progress=hook)
    _check(result, f"download of {_shown(src)} to {dst.value} failed")
    report.result(result, result.content)
    return EXIT_OK


def _shown(location: Location) -> str:
    """A location safe to print: a URL loses its query string (it may hold a signature)."""
    if location.kind != "url":
        return location.value
    return location.value.split("?", 1)[0] + ("?..." if "?" in location.value else "")


def _cmd_ls(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    report = _Reporter(args)
    with _oss(args) as oss:
        result = oss.list_objects(where.bucket, where.key, None if args.recursive else "/")
    _check(result, f"cannot list {where.value}")
    if report.as_json:
        report.result(result)
        return EXIT_OK
    if report.quiet:
        return EXIT_OK
    for prefix in result.common_prefixes:
        print(f"{'':19}  {'PRE':>12}  {prefix}")
    for entry in result.entries:
        stamp = entry.last_modified.strftime("%Y-%m-%d %H:%M:%S") if entry.last_modified else "-"
        print(f"{stamp:19}  {entry.size:>12}  {entry.key}")
    return EXIT_OK


def _cmd_rm(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if not where.key and not args.recursive:
        raise CliError(f"{where.value} names a whole bucket (use -r to empty it)", EXIT_USAGE)
    report = _Reporter(args)
    with _oss(args) as oss:
        result = oss.delete_objects(where.bucket, where.key, args.recursive)
    _check(result, f"cannot remove {where.value}")
    lines = "\n".join(f"deleted oss://{where.bucket}/{key}" for key in result.deleted)
    report.result(result, lines or f"nothing to delete under {where.value}")
    return EXIT_OK


def _cmd_presign(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if not where.key:
        raise CliError(f"{where.value} names no object", EXIT_USAGE)
    if args.expires <= 0:
        raise CliError("--expires must be a positive number of seconds", EXIT_USAGE)
    report = _Reporter(args)
    with _oss(args) as oss:
        url = oss.presign(where.bucket, where.key, args.method, args.expires)
    if report.as_json:
        print(json.dumps({"url": url, "method": args.method, "expires": args.expires}))
    else:
        print(url)  # even with --quiet: the URL is the output
    return EXIT_OK


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
    except Exception as exc:
        from agentbay_oss.errors import OssError

        # OssError (e.g. presign's bad input) and local OSError are operational: one line.
        if debug or not isinstance(exc, (OssError, OSError, ValueError)):
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
