"""`agentbay-oss`: copy, move, list, inspect, remove and presign OSS objects; make and remove
buckets; run the local server or the demo; print shell completion scripts.

Credentials and endpoint come from flags or from the environment variables the official
clients use (OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN, OSS_ENDPOINT,
OSS_REGION). Operational errors end with a one-line message on stderr and exit code 1; usage
errors, bad flag values included, exit 2 (argparse's convention); Ctrl-C exits 130 and a closed
stdout (`ls | head`) 141, quietly. No traceback unless --debug or AGENTBAY_OSS_DEBUG is set
(not 0); -v logs the `agentbay_oss` logger at INFO on stderr, --debug at DEBUG.

Only the standard library is imported at start: the SDK (aiohttp, pydantic) and rich are
imported when a command runs, so `--version` and `--help` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from agentbay_oss.aio import ProgressHook
    from agentbay_oss.aio.engine import Engine
    from agentbay_oss.config import TransferConfig
    from agentbay_oss.models import (
        ApiResponse,
        OSSDownloadResult,
        OSSUploadResult,
        ProgressEvent,
        SyncAction,
    )
    from agentbay_oss.sync import Oss, Session

PROG = "agentbay-oss"
T = TypeVar("T")
log = logging.getLogger("agentbay_oss.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `ls | head`'s ls


class CliError(Exception):
    """A failure: printed as one line on stderr, exit code 1 (or `exit_code`).

    `result` is the failed result it comes from (printed with --json), `cause` the typed
    exception behind it (its traceback is shown with AGENTBAY_OSS_DEBUG).
    """

    def __init__(
        self,
        message: str,
        exit_code: int = EXIT_FAILURE,
        *,
        result: ApiResponse | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.result = result
        self.cause = cause if cause is not None else (result.error if result else None)


class Interrupted(CliError):
    """Ctrl-C during a command: says what was already done, exit code 130."""

    def __init__(self, message: str) -> None:
        super().__init__(f"interrupted{': ' if message else ''}{message}", EXIT_INTERRUPTED)


# ---------------------------------------------------------------------------- locations
@dataclass(frozen=True)
class Location:
    """One side of `cp`: a local path, an OSS object or prefix, or an http(s) URL."""

    kind: Literal["local", "oss", "url", "stdio"]
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
    if text == "-":  # standard input / output (a file named '-' is ./-)
        return Location("stdio", text)
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


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (else a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value

    return parse


def parse_meta(text: str) -> tuple[str, str]:
    """--meta NAME=VALUE: one x-oss-meta-NAME header (names are case-insensitive)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip().lower(), value


def human_size(size: int) -> str:
    """A byte count as `ls -h` shows it: 1023, 1.0K, 1.5K, 10K, 1.2M (binary, rounded up)."""
    if size < 1024:
        return str(size)
    value = float(size)
    for unit in "KMGTPE":
        value /= 1024
        tenths = math.ceil(value * 10) / 10 if value < 10 else float(math.ceil(value))
        if tenths < 1024 or unit == "E":
            return f"{tenths:.1f}{unit}" if tenths < 10 else f"{tenths:.0f}{unit}"
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- parser
_MAX_EXPIRES = 7 * 24 * 3600  # what OSS accepts for a V4 presigned URL


def _add_global(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v / --debug: before the command or after it (a subcommand's copy does not reset the
    value the top level parsed: its default is SUPPRESS)."""
    default = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("logging") if not top else parser
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log what the SDK does (INFO) on stderr; secrets never appear",
        **default,  # type: ignore[arg-type]
    )
    group.add_argument(
        "--debug",
        action="store_true",
        help="log every request (DEBUG) and print tracebacks, as AGENTBAY_OSS_DEBUG=1 does",
        **default,  # type: ignore[arg-type]
    )


def _add_common(parser: argparse.ArgumentParser, *, credentials: bool, output: bool = True) -> None:
    if output:
        out = parser.add_argument_group("output")
        mode = out.add_mutually_exclusive_group()
        mode.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
        mode.add_argument(
            "--json",
            action="store_true",
            help="print the result as JSON on stdout, also when it failed (then exit code 1 or 2)",
        )
    else:
        parser.set_defaults(quiet=False, json=False)
    _add_global(parser, top=False)
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


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "filters (glob on the relative path; an include wins over an exclude; with includes "
        "only, only what they match)"
    )
    group.add_argument(
        "--include", action="append", default=[], metavar="GLOB", help="e.g. '*.parquet'"
    )
    group.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="e.g. '*.tmp' or 'cache/'"
    )


def _add_tuning(parser: argparse.ArgumentParser) -> None:
    tuning = parser.add_argument_group("transfer (default: TransferConfig's defaults)")
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
        help="keep resume records of multipart transfers here: rerunning an interrupted cp "
        "sends only their missing parts / ranges (whole files are sent again)",
    )


def _add_dask(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="shard a directory / prefix over a Dask cluster (scheduler address, e.g. "
        "tcp://host:8786; needs agentbay-oss[dask]); local paths must be the same shared "
        "directory on every worker",
    )


def build_parser() -> argparse.ArgumentParser:
    from agentbay_oss import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fast, safe transfers between this machine and Alibaba Cloud OSS.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_global(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    cp = sub.add_parser(
        "cp",
        help="upload, download, or copy server-side: files, directories, prefixes, stdin/stdout",
        description=(
            "Each side is a local path, oss://bucket/key, an http(s) URL (anonymous, e.g. a "
            "presigned URL) or - (standard input / output; a file named - is ./-). Upload: "
            "local or - -> oss:// (or URL). Download: oss:// or URL -> local or -. "
            "oss:// -> oss://: a server-side copy (no bytes pass through this machine)."
        ),
    )
    cp.add_argument("src", help="local path, oss://bucket/key[/], http(s) URL or -")
    cp.add_argument("dst", help="local path, oss://bucket/key[/], http(s) URL or -")
    cp.add_argument("-r", "--recursive", action="store_true", help="copy directories/prefixes")
    _add_filters(cp)
    cp.add_argument(
        "--allow-empty",
        action="store_true",
        help="downloading a prefix with no objects under it is not an error (exit 0, "
        "the destination directory is created)",
    )
    cp.add_argument(
        "-n",
        "--no-clobber",
        action="store_true",
        help="skip each destination object or file that already exists (checked just before "
        "the transfer, not atomically)",
    )
    cp.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be copied (one line each); change nothing",
    )
    upload = cp.add_argument_group("uploads to oss:// (local files or standard input)")
    upload.add_argument(
        "--content-type", metavar="TYPE", help="Content-Type of every object (default: guessed)"
    )
    upload.add_argument(
        "--meta",
        action="append",
        default=[],
        type=parse_meta,
        metavar="NAME=VALUE",
        help="user metadata (x-oss-meta-NAME), repeatable",
    )
    _add_tuning(cp)
    _add_dask(cp)
    _add_common(cp, credentials=True)

    sync = sub.add_parser(
        "sync",
        help="make a prefix hold what a directory holds, or the reverse: send only what differs",
        description=(
            "One side is a local directory, the other oss://bucket/prefix. Files the "
            "destination lacks or that differ are sent (default: sizes differ, or the "
            "source is newer; --size-only; --checksum compares CRC-64 of both sides). "
            "Memory does not grow with the tree; rerunning after an interruption sends only "
            "what is missing."
        ),
    )
    sync.add_argument("src", help="local directory or oss://bucket/prefix")
    sync.add_argument("dst", help="oss://bucket/prefix or local directory")
    sync.add_argument(
        "--delete", action="store_true", help="delete what the destination has and the source lacks"
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="say what would be done; change nothing"
    )
    sync.add_argument(
        "--force",
        action="store_true",
        help="with --delete, empty the destination even when the source is empty (refused "
        "without it: a typo must not wipe a bucket)",
    )
    compare = sync.add_mutually_exclusive_group()
    compare.add_argument("--size-only", action="store_true", help="compare sizes only")
    compare.add_argument("--checksum", action="store_true", help="compare CRC-64 of both sides")
    _add_filters(sync)
    _add_tuning(sync)
    _add_dask(sync)
    _add_common(sync, credentials=True)

    mv = sub.add_parser(
        "mv",
        help="move objects server-side: copy, then delete each source whose copy succeeded",
        description=(
            "Both sides are oss:// locations. Each object is copied server-side (as cp does) "
            "and its source deleted only once its copy succeeded: a failed copy leaves the "
            "source in place. With -r a prefix moves below the destination prefix."
        ),
    )
    mv.add_argument("src", help="oss://bucket/key, or oss://bucket/prefix/ with -r")
    mv.add_argument("dst", help="oss://bucket/key or oss://bucket/prefix/")
    mv.add_argument("-r", "--recursive", action="store_true", help="move every object of a prefix")
    _add_common(mv, credentials=True)

    ls = sub.add_parser(
        "ls",
        help="list buckets (oss:// or nothing), or objects under oss://bucket/prefix",
        description=(
            "Objects: one level (prefixes marked PRE); -r for every key. Each line: last "
            "modified, size in bytes, key. -l: sizes in K/M/G (as ls -h) and a summary line."
        ),
    )
    ls.add_argument(
        "url",
        nargs="?",
        default="oss://",
        metavar="oss://bucket/prefix",
        help="default oss://: list the buckets",
    )
    ls.add_argument("-r", "--recursive", action="store_true", help="list every key, not one level")
    ls.add_argument(
        "-l",
        "--long",
        action="store_true",
        help="human sizes (1.5K, 12M) and a summary line (objects, prefixes, total size)",
    )
    _add_common(ls, credentials=True)

    du = sub.add_parser(
        "du",
        help="count the objects and bytes under oss://bucket/prefix",
        description="Reads the listing a page at a time: memory does not grow with the prefix.",
    )
    du.add_argument("url", metavar="oss://bucket/prefix")
    _add_common(du, credentials=True)

    stat = sub.add_parser(
        "stat",
        help="show an object's size, ETag, CRC-64, content type, last modified and metadata",
        description="One HEAD request; a key that does not exist is an error (exit 1).",
    )
    stat.add_argument("url", metavar="oss://bucket/key")
    _add_common(stat, credentials=True)

    cat = sub.add_parser(
        "cat",
        help="write objects to standard output, one after the other",
        description="The same as cp oss://bucket/key - for each object in turn.",
    )
    cat.add_argument("urls", nargs="+", metavar="oss://bucket/key")
    _add_common(cat, credentials=True, output=False)

    mb = sub.add_parser(
        "mb",
        help="make a bucket",
        description="An existing bucket is an error (exit 1). The bucket gets the service's "
        "defaults (storage class, private ACL) in the endpoint's region.",
    )
    mb.add_argument("url", metavar="oss://bucket")
    _add_common(mb, credentials=True)

    rb = sub.add_parser(
        "rb",
        help="remove an empty bucket; --force empties it first",
        description=(
            "A bucket that holds objects is refused (exit 1) unless --force, which removes "
            "every object first, as rm -r --force oss://bucket/ does (no question asked), "
            "aborts its unfinished multipart uploads, then removes the bucket."
        ),
    )
    rb.add_argument("url", metavar="oss://bucket")
    rb.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="remove every object, abort unfinished multipart uploads, then the bucket",
    )
    _add_common(rb, credentials=True)

    rm = sub.add_parser(
        "rm",
        help="remove an object, or every object under a prefix with -r",
        description=(
            "Removing a key that does not exist (or a prefix with nothing under it) is an "
            "error, exit 1. Emptying a whole bucket (rm -r oss://bucket/) asks for 'yes' on a "
            "terminal; without a terminal it needs --force."
        ),
    )
    rm.add_argument("url", metavar="oss://bucket/key")
    rm.add_argument(
        "-r", "--recursive", action="store_true", help="remove key and everything under key/"
    )
    rm.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="empty a whole bucket without asking; nothing to remove is not an error",
    )
    rm.add_argument(
        "--dry-run",
        action="store_true",
        help="print each object that would be removed; remove nothing",
    )
    _add_common(rm, credentials=True)

    presign = sub.add_parser(
        "presign",
        help="print a presigned URL for an object",
        description="Prints the URL on stdout, also with --quiet (it is the output).",
    )
    presign.add_argument("url", metavar="oss://bucket/key")
    presign.add_argument(
        "--method",
        default="GET",
        type=str.upper,
        choices=["GET", "PUT"],
        help="what the URL allows: GET (download, default) or PUT (upload)",
    )
    presign.add_argument(
        "--expires",
        type=int_in(1, _MAX_EXPIRES),
        default=3600,
        metavar="S",
        help=f"seconds, 1..{_MAX_EXPIRES} (default 3600)",
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
        "--big-mib",
        type=int_in(0, 1 << 20),
        default=256,
        metavar="MIB",
        help="size of the big file (256)",
    )
    demo.add_argument("--keep", action="store_true", help="keep the temp directory")
    _add_common(demo, credentials=False)

    completion = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description=(
            "bash: source <(agentbay-oss completion bash); zsh: agentbay-oss completion zsh > "
            "a file named _agentbay-oss in $fpath; fish: agentbay-oss completion fish > "
            "~/.config/fish/completions/agentbay-oss.fish"
        ),
    )
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])
    return parser


# ---------------------------------------------------------------------------- commands
def _cmd_serve(args: argparse.Namespace) -> int:
    unavailable = getattr(args, "serve_unavailable", None)
    if unavailable:
        raise CliError(f"the local server is not available: {unavailable}")
    from agentbay_oss.server.cli import run_serve

    try:
        return run_serve(args)
    except SystemExit as exc:  # a usage error found after parsing: missing credentials
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def _cmd_demo(args: argparse.Namespace) -> int:
    from agentbay_oss.demo import run_demo

    return run_demo(big_mib=args.big_mib, keep=args.keep, quiet=args.quiet, as_json=args.json)


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        return _cmd_serve(args)
    if command == "demo":
        return _cmd_demo(args)
    if command == "completion":
        print(completion_script(build_parser(), args.shell), end="")
        return EXIT_OK
    handlers = {
        "cp": _cmd_cp,
        "mv": _cmd_mv,
        "sync": _cmd_sync,
        "ls": _cmd_ls,
        "du": _cmd_du,
        "stat": _cmd_stat,
        "cat": _cmd_cat,
        "mb": _cmd_mb,
        "rb": _cmd_rb,
        "rm": _cmd_rm,
        "presign": _cmd_presign,
    }
    return handlers[command](args)


# ---------------------------------------------------------------------------- output
class _Reporter:
    """Progress on stderr (a rich bar on a terminal, nothing otherwise), results on stdout.

    Every transfer gets the progress hook, bar or not: its last event says what was already
    done when the transfer is interrupted.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.quiet: bool = args.quiet
        self.as_json: bool = args.json
        self.last: ProgressEvent | None = None

    @property
    def bars(self) -> bool:
        return not (self.quiet or self.as_json) and sys.stderr.isatty()

    def _record(self, event: ProgressEvent) -> None:
        self.last = event

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[ProgressHook]:
        """A progress hook for the core, drawing a bar on a terminal while the block runs."""
        if not self.bars:
            yield self._record
            return
        from rich.console import Console
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
            console=Console(stderr=True),
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=None, files="")

            def hook(event: ProgressEvent) -> None:
                # Runs on the loop thread; rich's Progress is thread-safe.
                # While a tree or listing is still being walked the totals only grow: no
                # percentage or ETA until they are final.
                self._record(event)
                final = event.totals_final
                total = event.bytes_total if final else None
                files = f"{event.files_done}/{event.files_total}{'' if final else '+'} files"
                bar.update(task, completed=event.bytes_done, total=total, files=files)

            yield hook

    def interrupted(self, done: str, args: argparse.Namespace) -> Interrupted:
        """What a transfer stopped by Ctrl-C left behind; `done` e.g. "uploaded to oss://b/p"."""
        event = self.last
        if event is None or not event.files_done:
            text = f"no file was {done} yet"
        else:
            total = f"{'' if event.totals_final else 'at least '}{event.files_total}"
            text = (
                f"{event.files_done} of {total} file(s) were already {done} and stay there; "
                "rerunning the same command transfers every file again"
            )
        if getattr(args, "checkpoint_dir", None):
            text += "; multipart transfers cut short resume from --checkpoint-dir"
        return Interrupted(text)

    def result(self, result: ApiResponse, text: str | None = None) -> None:
        """Print a result: JSON with --json, `text` (or its content) unless --quiet."""
        if self.as_json:
            print(result.model_dump_json(indent=2))
        elif not self.quiet and text:
            print(text)


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
        raise CliError(_as_cli_hint(result.error_message) or f"{what}: failed", result=result)


def _transfer_config(args: argparse.Namespace) -> TransferConfig | None:
    """cp's tuning flags as a TransferConfig; a value it refuses is a usage error (exit 2)."""
    tuning = {
        name: getattr(args, name)
        for name in ("concurrency", "part_size", "multipart_threshold", "checkpoint_dir")
        if getattr(args, name, None) is not None
    }
    if not tuning:
        return None
    from pydantic import ValidationError

    from agentbay_oss.config import TransferConfig

    try:
        return TransferConfig(**tuning)
    except ValidationError as exc:
        problems = [
            f"--{str(err['loc'][0]).replace('_', '-')} {err.get('input')}: {err['msg']}"
            if err["loc"]
            else err["msg"]
            for err in exc.errors()
        ]
        raise CliError("; ".join(problems), EXIT_USAGE) from None


@contextlib.contextmanager
def _oss(args: argparse.Namespace, *, credentials: bool = True) -> Iterator[Oss]:
    """A blocking `Oss` with env_init done from flags / environment (none for anonymous use)."""
    config = _transfer_config(args)
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
    from agentbay_oss import AgentBay

    with AgentBay(config=config) as agent_bay:
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
                _check(init, "invalid OSS configuration")
                log.info("client: %s", session.oss.async_oss._require().describe())
            yield session.oss
        finally:
            session.delete()


def _first_key(oss: Oss, bucket: str, prefix: str) -> str | None:
    """The first key starting with `prefix`, or None: one listing request of one key.

    The `Oss` API lists whole prefixes; this asks the session's client for a single key, as
    `AsyncOss.download` does to tell a key from a prefix.
    """
    from agentbay_oss.errors import OssError
    from agentbay_oss.protocol.keys import validate_bucket
    from agentbay_oss.sync._portal import run

    async def first() -> str | None:
        validate_bucket(bucket)
        page = await oss.async_oss._require().list_page(bucket, prefix, "", None, max_keys=1)
        return page.entries[0].key if page.entries else None

    try:
        return run(first())
    except OssError as exc:
        raise CliError(f"Listing oss://{bucket}/{prefix} failed: {exc}", cause=exc) from None


def _on_engine(oss: Oss, work: Callable[[Engine], Awaitable[T]]) -> T:
    """Run `work(engine)` on the blocking API's loop (the engine raises typed OssErrors)."""
    from agentbay_oss.aio.engine import Engine
    from agentbay_oss.sync._portal import run

    async def go() -> T:
        return await work(Engine.of(oss.async_oss))

    return run(go())


def _exists(oss: Oss, bucket: str, key: str) -> bool:
    """Whether oss://bucket/key is an object (one HEAD)."""
    from agentbay_oss.errors import NotFoundError

    async def probe(engine: Engine) -> bool:
        try:
            await engine.head(engine.object(bucket, key))
        except NotFoundError:
            return False
        return True

    return _on_engine(oss, probe)


def _upload_options(args: argparse.Namespace) -> dict[str, object]:
    """--content-type / --meta as upload keyword arguments (only the ones given)."""
    options: dict[str, object] = {}
    if getattr(args, "content_type", None):
        options["content_type"] = args.content_type
    if getattr(args, "meta", None):
        options["metadata"] = dict(args.meta)
    return options


# ---------------------------------------------------------------------------- cp ls rm presign
def _cmd_cp(args: argparse.Namespace) -> int:
    src, dst = parse_location(args.src), parse_location(args.dst)
    if _upload_options(args) and not (dst.kind == "oss" and src.kind in ("local", "stdio")):
        raise CliError(
            "--content-type and --meta apply to uploads to oss:// (from a file or -)", EXIT_USAGE
        )
    if args.no_clobber and dst.kind == "url":
        raise CliError("--no-clobber cannot check a URL destination", EXIT_USAGE)
    if src.kind == "stdio" or dst.kind == "stdio":
        return _cp_stdio(args, src, dst)
    if src.kind == "oss" and dst.kind == "oss":
        return _cp_remote(args, src, dst)
    report = _Reporter(args)
    filters = {"include": args.include, "exclude": args.exclude}
    planned = args.no_clobber or args.dry_run
    if src.kind == "local":
        if dst.kind == "local":
            raise CliError("both sides are local paths: use your shell's cp", EXIT_USAGE)
        if not os.path.exists(src.value):
            raise CliError(f"{src.value}: no such file or directory")
        is_dir = os.path.isdir(src.value)
        if is_dir and not args.recursive:
            raise CliError(f"{src.value} is a directory (use -r to copy it)", EXIT_USAGE)
        if is_dir and planned:
            if args.no_clobber and not args.dry_run and _upload_options(args):
                raise CliError(
                    "--no-clobber on a directory does not take --content-type or --meta",
                    EXIT_USAGE,
                )
            return _cp_tree_planned(args, "upload", dst.bucket, dst.key, src.value)
        key = dst.key
        if dst.kind == "oss" and (not key or key.endswith("/")):
            key += os.path.basename(os.path.abspath(src.value))
        try:
            with (
                _oss(args, credentials=dst.kind == "oss") as oss,
                report.progress("upload") as hook,
            ):
                if dst.kind == "oss":
                    shown = f"oss://{dst.bucket}/{key}"
                    if args.no_clobber and _exists(oss, dst.bucket, key):
                        return _say(report, f"skip (exists): {shown}")
                    if args.dry_run:
                        return _say(report, f"upload: {src.value} -> {shown}")
                    result: OSSUploadResult | OSSDownloadResult = oss.upload(
                        dst.bucket,
                        key,
                        src.value,
                        progress=hook,
                        cluster=args.dask,
                        **filters,
                        **_upload_options(args),  # type: ignore[arg-type]
                    )
                else:
                    if args.dry_run:
                        return _say(report, f"upload: {src.value} -> {_shown(dst)}")
                    result = oss.upload_anonymous(dst.value, src.value, progress=hook)
        except KeyboardInterrupt:
            raise report.interrupted(f"uploaded to {_shown(dst)}", args) from None
        _check(result, f"upload of {src.value} to {_shown(dst)} failed")
        report.result(result, result.content)
        return EXIT_OK
    if dst.kind != "local":
        raise CliError(
            "copies from a URL to a remote location are not supported: download, then upload",
            EXIT_USAGE,
        )
    prefix = src.kind == "oss" and (not src.key or src.key.endswith("/"))
    if prefix and not args.recursive:
        raise CliError(f"{src.value} is a prefix (use -r to copy it)", EXIT_USAGE)
    try:
        with _oss(args, credentials=src.kind == "oss") as oss:
            if src.kind == "oss" and args.recursive and planned and not prefix:
                # cp -r oss://b/name: the object `name` if there is one, else the prefix name/
                prefix = _first_key(oss, src.bucket, src.key) != src.key
                if prefix:
                    src = Location("oss", src.value, src.bucket, src.key + "/")
            if prefix and not args.allow_empty and _first_key(oss, src.bucket, src.key) is None:
                raise CliError(
                    f"no objects under {src.value}: nothing to download, {dst.value} not "
                    "created (check the prefix with ls; --allow-empty makes this a success)"
                )
            if prefix and args.dry_run:
                return _download_tree_dry_run(args, oss, src, dst.value)
            if prefix and planned:
                return _cp_tree_planned(args, "download", src.bucket, src.key, dst.value)
            if planned:
                return _download_planned(args, oss, src, dst)
            with report.progress("download") as hook:
                if src.kind == "oss":
                    result = oss.download(
                        src.bucket, src.key, dst.value, progress=hook, cluster=args.dask, **filters
                    )
                else:
                    result = oss.download_anonymous(src.value, dst.value, progress=hook)
    except KeyboardInterrupt:
        raise report.interrupted(f"downloaded into {dst.value}", args) from None
    _check(result, f"download of {_shown(src)} to {dst.value} failed")
    report.result(result, result.content)
    return EXIT_OK


def _download_tree_dry_run(args: argparse.Namespace, oss: Oss, src: Location, local: str) -> int:
    """cp -r --dry-run of a prefix: the listing, a page at a time; nothing is created."""
    from agentbay_oss.protocol.syncplan import PathFilter

    report = _Reporter(args)
    wanted = PathFilter.of(args.include, args.exclude)
    for page in oss.iter_objects(src.bucket, src.key, None):
        for entry in page.entries:
            rel = entry.key[len(src.key) :]
            if not rel or rel.endswith("/") or not wanted(rel):
                continue
            dest = os.path.join(local, *rel.split("/"))
            if args.no_clobber and os.path.lexists(dest):
                _say(report, f"skip (exists): {dest}")
            else:
                _say(report, f"download: oss://{src.bucket}/{entry.key} -> {dest}")
    return EXIT_OK


def _say(report: _Reporter, line: str) -> int:
    """A --dry-run or --no-clobber decision about one object: one line on stdout."""
    if report.as_json:
        what, _, rest = line.partition(": ")
        print(json.dumps({"action": what, "what": rest}))
    elif not report.quiet:
        print(line)
    return EXIT_OK


def _download_planned(args: argparse.Namespace, oss: Oss, src: Location, dst: Location) -> int:
    """One object or URL to a local path with --no-clobber and/or --dry-run."""
    from urllib.parse import urlsplit

    report = _Reporter(args)
    name = src.key if src.kind == "oss" else urlsplit(src.value).path
    dest = dst.value
    if os.path.isdir(dest) or dest.endswith(("/", os.sep)):
        dest = os.path.join(dest, name.rsplit("/", 1)[-1])
    if args.no_clobber and os.path.lexists(dest):
        return _say(report, f"skip (exists): {dest}")
    if src.kind == "oss" and not _exists(oss, src.bucket, src.key):
        raise CliError(f"no object {src.value}")
    if args.dry_run:
        return _say(report, f"download: {_shown(src)} -> {dest}")
    with report.progress("download") as hook:
        if src.kind == "oss":
            result = oss.download(src.bucket, src.key, dest, progress=hook)
        else:
            result = oss.download_anonymous(src.value, dest, progress=hook)
    _check(result, f"download of {_shown(src)} to {dest} failed")
    report.result(result, result.content)
    return EXIT_OK


def _cp_tree_planned(
    args: argparse.Namespace, direction: str, bucket: str, prefix: str, local: str
) -> int:
    """cp -r of a directory or prefix with --no-clobber and/or --dry-run: sync's merge of
    both listings decides (compare "exists" keeps what the destination has, "always" sends
    everything), so memory does not grow with the tree either."""
    upload = direction == "upload"
    report = _Reporter(args)
    compare = "exists" if args.no_clobber else "always"

    def show(action: SyncAction) -> None:
        if report.quiet or (action.action == "send" and not args.dry_run):
            return  # a real run's sends are in the result line
        remote = f"oss://{bucket}/{action.key}"
        if action.action == "skip":
            line = f"skip (exists): {remote if upload else action.path}"
        elif upload:
            line = f"upload: {action.path} -> {remote}"
        else:
            line = f"download: {remote} -> {action.path}"
        _say(report, line)

    options = {
        "compare": compare,
        "dry_run": args.dry_run,
        "include": args.include,
        "exclude": args.exclude,
    }
    try:
        with _oss(args) as oss, report.progress(direction) as hook:
            if upload:
                result = oss.sync_upload(
                    bucket, prefix, local, progress=hook, on_action=show, cluster=args.dask,
                    **options,
                )  # fmt: skip
            else:
                result = oss.sync_download(
                    bucket, prefix, local, progress=hook, on_action=show, cluster=args.dask,
                    **options,
                )  # fmt: skip
    except KeyboardInterrupt:
        done = "uploaded to" if upload else "downloaded into"
        raise report.interrupted(
            f"{done} {f'oss://{bucket}/{prefix}' if upload else local}", args
        ) from None
    _check(result, f"{direction} of {local if upload else f'oss://{bucket}/{prefix}'} failed")
    report.result(result, result.content)
    return EXIT_OK


def _cp_remote(args: argparse.Namespace, src: Location, dst: Location) -> int:
    """oss:// -> oss://: a server-side copy (a prefix with -r)."""
    is_prefix = not src.key or src.key.endswith("/")
    if is_prefix and not args.recursive:
        raise CliError(f"{src.value} is a prefix (use -r to copy it)", EXIT_USAGE)
    report = _Reporter(args)
    if args.no_clobber or args.dry_run:
        with _oss(args) as oss:
            if is_prefix:
                return _copy_prefix_planned(args, oss, src, dst)
            key = dst.key + _basename(src.key) if not dst.key or dst.key.endswith("/") else dst.key
            shown = f"oss://{dst.bucket}/{key}"
            if args.no_clobber and _exists(oss, dst.bucket, key):
                return _say(report, f"skip (exists): {shown}")
            if not _exists(oss, src.bucket, src.key):
                raise CliError(f"no object {src.value}")
            if args.dry_run:
                return _say(report, f"copy: {src.value} -> {shown}")
            result = oss.copy(src.bucket, src.key, dst.bucket, key)
        _check(result, f"copy of {src.value} to {shown} failed")
        report.result(result, result.content)
        return EXIT_OK
    try:
        with _oss(args) as oss, report.progress("copy") as hook:
            result = oss.copy(
                src.bucket, src.key, dst.bucket, dst.key, progress=hook, cluster=args.dask
            )
    except KeyboardInterrupt:
        raise report.interrupted(f"copied to {dst.value}", args) from None
    _check(result, f"copy of {src.value} to {dst.value} failed")
    report.result(result, result.content)
    return EXIT_OK


def _basename(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]


def _dir_prefix(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def _copy_prefix_planned(args: argparse.Namespace, oss: Oss, src: Location, dst: Location) -> int:
    """cp -r oss:// oss:// with --no-clobber and/or --dry-run: a page of the source listing at
    a time, each key's destination HEADed (--no-clobber) and copied concurrently."""
    import asyncio

    from agentbay_oss.errors import NotFoundError

    report = _Reporter(args)
    dst_prefix = _dir_prefix(dst.key)
    lines: list[str] = []
    counts = {"copied": 0, "skipped": 0}

    async def work(engine: Engine) -> None:
        slots = asyncio.Semaphore(engine.concurrency)

        async def one(key: str) -> str:
            target = engine.object(dst.bucket, dst_prefix + key[len(src.key) :])
            shown = f"oss://{dst.bucket}/{target.key}"
            async with slots:
                if args.no_clobber:
                    try:
                        await engine.head(target)
                    except NotFoundError:
                        pass
                    else:
                        counts["skipped"] += 1
                        return f"skip (exists): {shown}"
                if not args.dry_run:
                    await engine.copy(engine.object(src.bucket, key), target)
                counts["copied"] += 1
                return f"copy: oss://{src.bucket}/{key} -> {shown}"

        async for page in engine.list_pages(src.bucket, src.key):
            done = await asyncio.gather(*(one(e.key) for e in page.entries))
            if args.dry_run or not report.as_json:
                lines.extend(done)
            for line in lines:
                if args.dry_run or line.startswith("skip"):
                    _say(report, line)
            lines.clear()

    _on_engine(oss, work)
    if not args.dry_run and not report.quiet:
        summary = {"success": True, **counts}
        print(
            json.dumps(summary)
            if report.as_json
            else f"Copy success: {counts['copied']} object(s) copied, "
            f"{counts['skipped']} skipped (exist)"
        )
    return EXIT_OK


def _cp_stdio(args: argparse.Namespace, src: Location, dst: Location) -> int:
    """`cp - oss://b/k` uploads standard input; `cp oss://b/k -` writes the object to stdout."""
    report = _Reporter(args)
    if src.kind == "stdio" and dst.kind == "oss" and dst.key and not dst.key.endswith("/"):
        with _oss(args) as oss, report.progress("upload") as hook:
            if args.no_clobber and _exists(oss, dst.bucket, dst.key):
                return _say(report, f"skip (exists): {dst.value}")
            if args.dry_run:
                return _say(report, f"upload: - -> {dst.value}")
            result: OSSUploadResult | OSSDownloadResult = oss.upload_stream(
                dst.bucket,
                dst.key,
                sys.stdin.buffer,
                progress=hook,
                **_upload_options(args),  # type: ignore[arg-type]
            )
        _check(result, f"upload of standard input to {dst.value} failed")
        report.result(result, result.content)
        return EXIT_OK
    if dst.kind == "stdio" and src.kind == "oss" and src.key and not src.key.endswith("/"):
        if report.as_json:
            raise CliError("--json cannot share standard output with the object", EXIT_USAGE)
        sys.stdout.flush()
        with _oss(args) as oss, report.progress("download") as hook:
            if args.dry_run:
                if not _exists(oss, src.bucket, src.key):
                    raise CliError(f"no object {src.value}")
                return _say(report, f"download: {src.value} -> -")
            result = oss.download_stream(src.bucket, src.key, sys.stdout.buffer, progress=hook)
        sys.stdout.buffer.flush()
        _check(result, f"download of {src.value} to standard output failed")
        return EXIT_OK  # (stdout holds the object: no result line there)
    raise CliError(
        "- (standard input / output) pairs with one object: cp - oss://bucket/key or "
        "cp oss://bucket/key -",
        EXIT_USAGE,
    )


def _cmd_sync(args: argparse.Namespace) -> int:
    src, dst = parse_location(args.src), parse_location(args.dst)
    kinds = (src.kind, dst.kind)
    if kinds not in (("local", "oss"), ("oss", "local")):
        raise CliError("sync takes one local directory and one oss://bucket/prefix", EXIT_USAGE)
    compare = "checksum" if args.checksum else "size" if args.size_only else "size_mtime"
    options = {
        "delete": args.delete,
        "compare": compare,
        "dry_run": args.dry_run,
        "include": args.include,
        "exclude": args.exclude,
        "force": args.force,
    }
    report = _Reporter(args)

    def show(action: SyncAction) -> None:  # every decision of a dry run, on stdout
        if args.dry_run and not report.quiet:
            what = action.key or action.path
            print(json.dumps(asdict(action)) if report.as_json else f"{action.action}: {what}")

    try:
        with _oss(args) as oss, report.progress("sync") as hook:
            if src.kind == "local":
                result = oss.sync_upload(
                    dst.bucket, dst.key, src.value, progress=hook, on_action=show,
                    cluster=args.dask, **options,
                )  # fmt: skip
            else:
                result = oss.sync_download(
                    src.bucket, src.key, dst.value, progress=hook, on_action=show,
                    cluster=args.dask, **options,
                )  # fmt: skip
    except KeyboardInterrupt:
        event = report.last
        done = event.files_done if event else 0
        raise Interrupted(
            f"{done} file(s) were already sent and stay there; rerunning the same sync "
            "sends only what is still missing or different"
        ) from None
    _check(result, f"sync of {_shown(src)} to {_shown(dst)} failed")
    report.result(result, result.content)
    return EXIT_OK


def _shown(location: Location) -> str:
    """A location safe to print: a URL loses its query string (it may hold a signature)."""
    if location.kind != "url":
        return location.value
    return location.value.split("?", 1)[0] + ("?..." if "?" in location.value else "")


def _cmd_ls(args: argparse.Namespace) -> int:
    if args.url.lower().rstrip("/") == "oss:":
        return _ls_buckets(args)
    where = parse_oss_url(args.url)
    report = _Reporter(args)
    delimiter = None if args.recursive else "/"
    objects = prefixes = total = 0
    with _oss(args) as oss:
        if report.as_json:
            result = oss.list_objects(where.bucket, where.key, delimiter)
            _check(result, f"cannot list {where.value}")
            report.result(result)
            return EXIT_OK
        from agentbay_oss.errors import OssError

        try:  # a page at a time: a listing of millions of keys prints in constant memory
            for page in oss.iter_objects(where.bucket, where.key, delimiter):
                prefixes += len(page.common_prefixes)
                objects += len(page.entries)
                total += sum(entry.size for entry in page.entries)
                if report.quiet:
                    continue
                width = 7 if args.long else 12
                for prefix in page.common_prefixes:
                    print(f"{'':19}  {'PRE':>{width}}  {prefix}")
                for entry in page.entries:
                    modified = entry.last_modified
                    stamp = modified.strftime("%Y-%m-%d %H:%M:%S") if modified else "-"
                    size = human_size(entry.size) if args.long else str(entry.size)
                    print(f"{stamp:19}  {size:>{width}}  {entry.key}")
        except OssError as exc:
            raise CliError(f"cannot list {where.value}: {exc}", cause=exc) from None
    if args.long and not report.quiet:
        print(
            f"Total: {objects} object(s), {human_size(total)} ({total} bytes); "
            f"{prefixes} prefix(es)"
        )
    return EXIT_OK


def _ls_buckets(args: argparse.Namespace) -> int:
    """`ls oss://` (or `ls`): the account's buckets (GetService)."""
    from agentbay_oss.protocol.xml import BucketEntry

    report = _Reporter(args)

    async def collect(engine: Engine) -> list[BucketEntry]:
        return [bucket async for bucket in engine.list_buckets()]

    from agentbay_oss.errors import OssError

    with _oss(args) as oss:
        try:
            buckets = _on_engine(oss, collect)
        except OssError as exc:
            raise CliError(f"cannot list the buckets: {exc}", cause=exc) from None
    if report.as_json:
        rows = [
            {
                "name": b.name,
                "region": b.region,
                "created": b.created.isoformat() if b.created else None,
            }
            for b in buckets
        ]
        print(json.dumps({"success": True, "buckets": rows}, indent=2))
        return EXIT_OK
    if report.quiet:
        return EXIT_OK
    for b in buckets:
        stamp = b.created.strftime("%Y-%m-%d %H:%M:%S") if b.created else "-"
        region = f"  {b.region:<20}" if args.long else ""
        print(f"{stamp:19}{region}  oss://{b.name}")
    if args.long:
        print(f"Total: {len(buckets)} bucket(s)")
    return EXIT_OK


def _cmd_du(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    report = _Reporter(args)
    objects = total = 0
    from agentbay_oss.errors import OssError

    with _oss(args) as oss:
        try:  # pages, not the whole listing: constant memory
            for page in oss.iter_objects(where.bucket, where.key, None):
                objects += len(page.entries)
                total += sum(entry.size for entry in page.entries)
        except OssError as exc:
            raise CliError(f"cannot list {where.value}: {exc}", cause=exc) from None
    if report.as_json:
        print(json.dumps({"success": True, "url": where.value, "objects": objects, "bytes": total}))
    elif not report.quiet:
        print(f"{human_size(total)}\t{total} bytes\t{objects} object(s)\t{where.value}")
    return EXIT_OK


def _cmd_stat(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if not where.key or where.key.endswith("/"):
        raise CliError(f"{where.value} names no object (stat takes oss://bucket/key)", EXIT_USAGE)
    report = _Reporter(args)
    from agentbay_oss.aio.engine import ObjectMeta
    from agentbay_oss.errors import NotFoundError

    async def head(engine: Engine) -> ObjectMeta:
        return await engine.head(engine.object(where.bucket, where.key))

    with _oss(args) as oss:
        try:
            meta = _on_engine(oss, head)
        except NotFoundError as exc:
            raise CliError(f"no object {where.value} ({exc.code})", cause=exc) from None
    fields: dict[str, object] = {
        "url": where.value,
        "size": meta.size,
        "etag": meta.etag,
        "crc64": meta.crc64,
        "content_type": meta.content_type,
        "last_modified": meta.last_modified,
        "metadata": dict(meta.metadata),
    }
    if report.as_json:
        print(json.dumps({"success": True, **fields}, indent=2))
        return EXIT_OK
    if report.quiet:
        return EXIT_OK
    print(f"URL:            {where.value}")
    print(f"Size:           {meta.size} ({human_size(meta.size)})")
    print(f"ETag:           {meta.etag}")
    print(f"CRC-64:         {'-' if meta.crc64 is None else meta.crc64}")
    print(f"Content-Type:   {meta.content_type or '-'}")
    print(f"Last-Modified:  {meta.last_modified or '-'}")
    for name, value in meta.metadata:
        print(f"Meta {name}: {value}")
    return EXIT_OK


def _cmd_cat(args: argparse.Namespace) -> int:
    wheres = [parse_oss_url(url) for url in args.urls]
    for where in wheres:
        if not where.key or where.key.endswith("/"):
            raise CliError(f"{where.value} names no object", EXIT_USAGE)
    sys.stdout.flush()
    with _oss(args) as oss:
        for where in wheres:
            result = oss.download_stream(where.bucket, where.key, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            _check(result, f"reading {where.value} failed")
    return EXIT_OK


def _cmd_mv(args: argparse.Namespace) -> int:
    src, dst = parse_location(args.src), parse_location(args.dst)
    if src.kind != "oss" or dst.kind != "oss":
        raise CliError(
            "mv moves between oss:// locations (for local files: cp, then rm)", EXIT_USAGE
        )
    is_prefix = not src.key or src.key.endswith("/")
    if is_prefix and not args.recursive:
        raise CliError(f"{src.value} is a prefix (use -r to move it)", EXIT_USAGE)
    report = _Reporter(args)
    if not is_prefix:
        with _oss(args) as oss:
            result = oss.copy(src.bucket, src.key, dst.bucket, dst.key)
            _check(result, f"copy of {src.value} to {dst.value} failed; nothing was deleted")
            copied = result.objects[0].key

            async def remove(engine: Engine) -> int:
                return await engine.delete(src.bucket, [src.key])

            _on_engine(oss, remove)
        report.result(result, f"moved {src.value} -> oss://{dst.bucket}/{copied}")
        return EXIT_OK
    dst_prefix = _dir_prefix(dst.key)
    if src.bucket == dst.bucket and dst_prefix.startswith(src.key):
        raise CliError(f"cannot move {src.value} into itself ({dst.value})", EXIT_USAGE)
    return _mv_prefix(args, report, src, dst, dst_prefix)


def _mv_prefix(
    args: argparse.Namespace, report: _Reporter, src: Location, dst: Location, dst_prefix: str
) -> int:
    """Every object under the prefix is copied (oss.copy's pool); each copy that succeeded
    gets its source deleted, 1,000 a request as copies complete. A failed copy is never
    followed by a delete: its source stays."""
    from agentbay_oss.models import TransferredObject

    pending: list[str] = []
    moved = [0]
    engines: list[Engine] = []

    async def delete(keys: list[str]) -> None:
        if not engines:
            from agentbay_oss.aio.engine import Engine

            engines.append(Engine.of(oss.async_oss))
        await engines[0].delete(src.bucket, keys)
        moved[0] += len(keys)

    async def copied(obj: TransferredObject) -> None:  # on the loop, once per finished copy
        pending.append(src.key + obj.key[len(dst_prefix) :])
        if len(pending) >= 1000:
            batch = pending[:]
            pending.clear()
            await delete(batch)

    result = None
    try:
        with _oss(args) as oss, report.progress("move") as hook:
            try:
                result = oss.copy(
                    src.bucket, src.key, dst.bucket, dst_prefix, progress=hook, on_object=copied
                )
            finally:  # the copies that did succeed (also on Ctrl-C): their sources go
                if pending:
                    batch = pending[:]
                    pending.clear()
                    _on_engine(oss, lambda engine: delete(batch))
    except KeyboardInterrupt:
        raise Interrupted(
            f"{moved[0]} object(s) were moved; the rest are still at {src.value}"
        ) from None
    assert result is not None
    _check(
        result,
        f"move of {src.value} to {dst.value} failed after moving {moved[0]} object(s)",
    )
    if result.files == 0 and moved[0] == 0:
        raise CliError(f"no objects under {src.value}: nothing was moved", result=result)
    report.result(
        result,
        f"Move success: {moved[0]} object(s) moved from {src.value} to "
        f"oss://{dst.bucket}/{dst_prefix}",
    )
    return EXIT_OK


def _cmd_mb(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if where.key:
        raise CliError(f"{where.value}: mb takes oss://bucket", EXIT_USAGE)
    report = _Reporter(args)

    async def make(engine: Engine) -> bool:
        async for bucket in engine.list_buckets(prefix=where.bucket):
            if bucket.name == where.bucket:
                return False
        await engine.create_bucket(where.bucket)
        return True

    with _oss(args) as oss:
        if not _on_engine(oss, make):
            raise CliError(f"bucket {where.bucket} already exists")
    _report_plain(report, {"success": True, "bucket": where.bucket}, f"made oss://{where.bucket}")
    return EXIT_OK


def _report_plain(report: _Reporter, fields: dict[str, object], line: str) -> None:
    if report.as_json:
        print(json.dumps(fields))
    elif not report.quiet:
        print(line)


def _cmd_rb(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if where.key:
        raise CliError(f"{where.value}: rb takes oss://bucket", EXIT_USAGE)
    report = _Reporter(args)
    from agentbay_oss.errors import OssError

    async def remove(engine: Engine) -> tuple[int, int]:
        emptied = aborted = 0
        if args.force:  # as rm -r --force oss://bucket/: a page deleted while the next is read
            async for page in engine.list_pages(where.bucket, ""):
                emptied += await engine.delete(where.bucket, [e.key for e in page.entries])
            # Unfinished multipart uploads keep a bucket from being deleted too (and their
            # parts are billed); aborting them is part of emptying it.
            async for upload in engine.list_uploads(where.bucket):
                aborted += await engine.abort_upload(where.bucket, upload)
        await engine.delete_bucket(where.bucket)
        return emptied, aborted

    with _oss(args) as oss:
        try:
            emptied, aborted = _on_engine(oss, remove)
        except OssError as exc:
            if exc.code != "BucketNotEmpty":
                raise CliError(f"cannot remove bucket {where.bucket}: {exc}", cause=exc) from None
            hint = (
                "it still holds objects or unfinished multipart uploads (written meanwhile?)"
                if args.force
                else "it holds objects: --force removes them all first"
            )
            raise CliError(f"bucket {where.bucket} is not empty: {hint}", cause=exc) from None
    extra = (
        f" ({emptied} object(s) removed, {aborted} unfinished multipart upload(s) aborted first)"
        if args.force
        else ""
    )
    _report_plain(
        report,
        {
            "success": True,
            "bucket": where.bucket,
            "objects_removed": emptied,
            "uploads_aborted": aborted,
        },
        f"removed oss://{where.bucket}{extra}",
    )
    return EXIT_OK


def _confirm_emptying(bucket: str) -> None:
    """`rm -r oss://bucket/` without --force: a typed "yes" on a terminal, else refused."""
    if not sys.stdin.isatty():
        raise CliError(
            f"oss://{bucket}/ is the whole bucket: pass --force to remove every object in it "
            "(no terminal to ask on)",
            EXIT_USAGE,
        )
    sys.stderr.write(
        f"Remove every object in bucket {bucket}? This cannot be undone. Type 'yes' to go on: "
    )
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() != "yes":
        raise CliError(f"not confirmed: nothing was removed from oss://{bucket}/")


def _cmd_rm(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if not where.key and not args.recursive:
        raise CliError(f"{where.value} names a whole bucket (use -r to empty it)", EXIT_USAGE)
    report = _Reporter(args)
    if args.dry_run:
        return _rm_dry_run(args, report, where)
    with _oss(args) as oss:
        if not where.key and not args.force:
            _confirm_emptying(where.bucket)
        if args.recursive or _first_key(oss, where.bucket, where.key) == where.key:
            result = oss.delete_objects(where.bucket, where.key, args.recursive)
            _check(result, f"cannot remove {where.value}")
        else:
            from agentbay_oss.models import DeleteObjectsResult

            result = DeleteObjectsResult(success=True)
    if not result.deleted and not args.force:
        what = f"no objects under {where.value}" if args.recursive else f"no object {where.value}"
        message = f"{what}: nothing was removed (-f makes this a success)"
        failed = result.model_copy(update={"success": False, "error_message": message})
        raise CliError(message, result=failed)
    lines = "\n".join(f"deleted oss://{where.bucket}/{key}" for key in result.deleted)
    report.result(result, lines or f"nothing to remove at {where.value}")
    return EXIT_OK


def _rm_dry_run(args: argparse.Namespace, report: _Reporter, where: Location) -> int:
    """What `rm` would remove, a listing page at a time; nothing is removed (no question)."""
    found = 0
    with _oss(args) as oss:
        if not args.recursive:
            found = int(_first_key(oss, where.bucket, where.key) == where.key)
            if found:
                _say(report, f"delete: {where.value}")
        else:
            below = _dir_prefix(where.key)
            for page in oss.iter_objects(where.bucket, where.key, None):
                for entry in page.entries:
                    if entry.key == where.key or entry.key.startswith(below):
                        found += 1
                        _say(report, f"delete: oss://{where.bucket}/{entry.key}")
    if not found and not args.force:
        what = f"no objects under {where.value}" if args.recursive else f"no object {where.value}"
        raise CliError(f"{what}: nothing would be removed (-f makes this a success)")
    return EXIT_OK


def _cmd_presign(args: argparse.Namespace) -> int:
    where = parse_oss_url(args.url)
    if not where.key:
        raise CliError(f"{where.value} names no object", EXIT_USAGE)
    report = _Reporter(args)
    with _oss(args) as oss:
        url = oss.presign(where.bucket, where.key, args.method, args.expires)
    if report.as_json:
        print(json.dumps({"url": url, "method": args.method, "expires": args.expires}))
    else:
        print(url)  # even with --quiet: the URL is the output
    return EXIT_OK


# ---------------------------------------------------------------------------- completion
def _commands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, list[str]]]:
    """{command: (help, its option strings)}, read from the parser itself."""
    found: dict[str, tuple[str, list[str]]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                options = [o for a in sub._actions for o in a.option_strings]
                found[name] = (helps.get(name, ""), options)
    return found


def _top_options(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings]


def _choices(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """The fixed words a command's positional takes (completion's shells)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices[command]
            for a in sub._actions:
                if not a.option_strings and a.choices:
                    return [str(c) for c in a.choices]
    return []


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    commands = _commands(parser)
    top = " ".join(_top_options(parser))
    if shell == "bash":
        cases = "".join(
            f'        {name}) opts="{" ".join(opts)}"; words="{" ".join(_choices(parser, name))}" ;;\n'
            for name, (_, opts) in commands.items()
        )
        return f"""# bash completion for {PROG}: source <({PROG} completion bash)
_agentbay_oss() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" cmd="" opts="" words="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) cmd="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "{" ".join(commands)} {top}" -- "$cur"))
        return
    fi
    case "$cmd" in
{cases}    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -n "$words" ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o default -F _agentbay_oss {PROG}
"""
    if shell == "zsh":

        def quoted(text: str) -> str:
            return "'" + text.replace("'", "'\\''") + "'"

        colon = "\\:"  # (no backslash inside an f-string expression before Python 3.12)
        described = "\n".join(
            f"    {quoted(name + ':' + help_.replace(':', colon))}"
            for name, (help_, _) in commands.items()
        )
        cases = "".join(
            f"    {name}) opts=({' '.join(opts)}); words=({' '.join(_choices(parser, name))}) ;;\n"
            for name, (_, opts) in commands.items()
        )
        return f"""#compdef {PROG}
# zsh completion for {PROG}: save as _{PROG} in a directory of $fpath
_agentbay_oss() {{
  local -a commands opts words
  commands=(
{described}
  )
  local cmd="" i
  for (( i = 2; i < CURRENT; i++ )); do
    if [[ ${{words[i]}} != -* ]]; then cmd=${{words[i]}}; break; fi
  done
  if [[ -z $cmd ]]; then
    if [[ ${{words[CURRENT]}} == -* ]]; then compadd -- {top}
    else _describe -t commands '{PROG} command' commands; fi
    return
  fi
  case $cmd in
{cases}  esac
  if [[ ${{words[CURRENT]}} == -* ]]; then compadd -- $opts
  elif (( ${{#words}} )); then compadd -- $words
  else _files; fi
}}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _agentbay_oss "$@"
else
  compdef _agentbay_oss {PROG}
fi
"""
    lines = [f"# fish completion for {PROG}: save as ~/.config/fish/completions/{PROG}.fish"]
    for name, (help_, opts) in commands.items():
        lines.append(
            f"complete -c {PROG} -n __fish_use_subcommand -f -a {name} "
            f"-d '{help_.replace(chr(39), '')}'"
        )
        for option in opts:
            flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
            lines.append(f"complete -c {PROG} -n '__fish_seen_subcommand_from {name}' {flag}")
        for word in _choices(parser, name):
            lines.append(f"complete -c {PROG} -n '__fish_seen_subcommand_from {name}' -f -a {word}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main
def _debug() -> bool:
    return os.environ.get("AGENTBAY_OSS_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


class _Redact(logging.Filter):
    """Replaces the secret key and the STS token in every record, should one ever reach it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


def _setup_logging(args: argparse.Namespace) -> None:
    """-v: the `agentbay_oss` logger at INFO on stderr; --debug: DEBUG and tracebacks."""
    if getattr(args, "debug", False):
        os.environ["AGENTBAY_OSS_DEBUG"] = "1"
    level = (
        logging.DEBUG
        if _debug() and getattr(args, "debug", False)
        else logging.INFO
        if getattr(args, "verbose", False)
        else None
    )
    if level is None:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(
        _Redact(
            [
                getattr(args, "access_key_secret", None) or "",
                getattr(args, "security_token", None) or "",
            ]
        )
    )
    root = logging.getLogger("agentbay_oss")
    root.addHandler(handler)
    root.setLevel(level)


def _scheme_hint(args: argparse.Namespace, cause: BaseException | None) -> str:
    """A connection failure to an endpoint given without a scheme: https:// was assumed."""
    endpoint = getattr(args, "endpoint", None)
    if not endpoint or "://" in endpoint or cause is None:
        return ""
    from agentbay_oss.errors import TransportError

    if not isinstance(cause, TransportError):
        return ""
    return (
        f" (the endpoint {endpoint} has no scheme, so https:// was used: for a local server "
        f"add http://, e.g. --endpoint http://{endpoint.strip()})"
    )


def _fail(args: argparse.Namespace, exc: CliError) -> int:
    """One line on stderr; with --json also the failed result on stdout."""
    if _debug():
        import traceback

        traceback.print_exception(exc.cause or exc, file=sys.stderr)
    if getattr(args, "json", False):
        if exc.result is not None:
            print(exc.result.model_dump_json(indent=2))
        else:
            failed = {"request_id": "", "success": False, "error_message": str(exc)}
            print(json.dumps(failed, indent=2))
    print(f"{PROG}: error: {exc}{_scheme_hint(args, exc.cause)}", file=sys.stderr)
    return exc.exit_code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _setup_logging(args)
    try:
        code = _dispatch(args)
    except CliError as exc:
        code = _fail(args, exc)
    except KeyboardInterrupt:
        code = _fail(args, Interrupted(""))
    except Exception as exc:
        from agentbay_oss.errors import OssError

        # OssError (e.g. presign's bad input) and local OSError are operational: one line.
        if _debug() or isinstance(exc, BrokenPipeError):
            raise
        if not isinstance(exc, (OssError, OSError, ValueError)):
            raise
        code = _fail(args, CliError(str(exc), cause=exc))
    sys.stdout.flush()  # here, not at exit, so that a closed pipe is handled by main
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `agentbay-oss` console script; returns the exit code."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # Whoever read stdout went away (`agentbay-oss ls ... | head`). coreutils die of
        # SIGPIPE there, which a shell reports as 141 and `set -o pipefail` sees; Python
        # ignores SIGPIPE and raises instead, so: the same status, no message, and stdout
        # pointed at /dev/null so that the flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
