"""`agentbay-oss`: copy, list, remove and presign OSS objects; run the local server or the demo.

Credentials and endpoint come from flags or from the environment variables the official
clients use (OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN, OSS_ENDPOINT,
OSS_REGION). Operational errors end with a one-line message on stderr and exit code 1; usage
errors, bad flag values included, exit 2 (argparse's convention); Ctrl-C exits 130 and a closed
stdout (`ls | head`) 141, quietly. No traceback unless AGENTBAY_OSS_DEBUG is set (not 0).

Only the standard library is imported at start: the SDK (aiohttp, pydantic) and rich are
imported when a command runs, so `--version` and `--help` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agentbay_oss.aio import ProgressHook
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


# ---------------------------------------------------------------------------- parser
_MAX_EXPIRES = 7 * 24 * 3600  # what OSS accepts for a V4 presigned URL


def _add_common(parser: argparse.ArgumentParser, *, credentials: bool) -> None:
    out = parser.add_argument_group("output")
    mode = out.add_mutually_exclusive_group()
    mode.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    mode.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout, also when it failed (then exit code 1 or 2)",
    )
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
    _add_tuning(cp)
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
    compare = sync.add_mutually_exclusive_group()
    compare.add_argument("--size-only", action="store_true", help="compare sizes only")
    compare.add_argument("--checksum", action="store_true", help="compare CRC-64 of both sides")
    _add_filters(sync)
    _add_tuning(sync)
    _add_common(sync, credentials=True)

    ls = sub.add_parser(
        "ls", help="list objects under oss://bucket/prefix (one level; -r for every key)"
    )
    ls.add_argument("url", metavar="oss://bucket/prefix")
    ls.add_argument("-r", "--recursive", action="store_true", help="list every key, not one level")
    _add_common(ls, credentials=True)

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
    handlers = {
        "cp": _cmd_cp,
        "sync": _cmd_sync,
        "ls": _cmd_ls,
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


# ---------------------------------------------------------------------------- cp ls rm presign
def _cmd_cp(args: argparse.Namespace) -> int:
    src, dst = parse_location(args.src), parse_location(args.dst)
    if src.kind == "stdio" or dst.kind == "stdio":
        return _cp_stdio(args, src, dst)
    if src.kind == "oss" and dst.kind == "oss":
        return _cp_remote(args, src, dst)
    report = _Reporter(args)
    filters = {"include": args.include, "exclude": args.exclude}
    if src.kind == "local":
        if dst.kind == "local":
            raise CliError("both sides are local paths: use your shell's cp", EXIT_USAGE)
        if not os.path.exists(src.value):
            raise CliError(f"{src.value}: no such file or directory")
        if os.path.isdir(src.value) and not args.recursive:
            raise CliError(f"{src.value} is a directory (use -r to copy it)", EXIT_USAGE)
        try:
            with (
                _oss(args, credentials=dst.kind == "oss") as oss,
                report.progress("upload") as hook,
            ):
                if dst.kind == "oss":
                    key = dst.key
                    if not key and not os.path.isdir(src.value):
                        key = os.path.basename(os.path.abspath(src.value))
                    result: OSSUploadResult | OSSDownloadResult = oss.upload(
                        dst.bucket, key, src.value, progress=hook, **filters
                    )
                else:
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
            if prefix and not args.allow_empty and _first_key(oss, src.bucket, src.key) is None:
                raise CliError(
                    f"no objects under {src.value}: nothing to download, {dst.value} not "
                    "created (check the prefix with ls; --allow-empty makes this a success)"
                )
            with report.progress("download") as hook:
                if src.kind == "oss":
                    result = oss.download(src.bucket, src.key, dst.value, progress=hook, **filters)
                else:
                    result = oss.download_anonymous(src.value, dst.value, progress=hook)
    except KeyboardInterrupt:
        raise report.interrupted(f"downloaded into {dst.value}", args) from None
    _check(result, f"download of {_shown(src)} to {dst.value} failed")
    report.result(result, result.content)
    return EXIT_OK


def _cp_remote(args: argparse.Namespace, src: Location, dst: Location) -> int:
    """oss:// -> oss://: a server-side copy (a prefix with -r)."""
    if (not src.key or src.key.endswith("/")) and not args.recursive:
        raise CliError(f"{src.value} is a prefix (use -r to copy it)", EXIT_USAGE)
    report = _Reporter(args)
    try:
        with _oss(args) as oss, report.progress("copy") as hook:
            result = oss.copy(src.bucket, src.key, dst.bucket, dst.key, progress=hook)
    except KeyboardInterrupt:
        raise report.interrupted(f"copied to {dst.value}", args) from None
    _check(result, f"copy of {src.value} to {dst.value} failed")
    report.result(result, result.content)
    return EXIT_OK


def _cp_stdio(args: argparse.Namespace, src: Location, dst: Location) -> int:
    """`cp - oss://b/k` uploads standard input; `cp oss://b/k -` writes the object to stdout."""
    report = _Reporter(args)
    if src.kind == "stdio" and dst.kind == "oss" and dst.key and not dst.key.endswith("/"):
        with _oss(args) as oss, report.progress("upload") as hook:
            result: OSSUploadResult | OSSDownloadResult = oss.upload_stream(
                dst.bucket, dst.key, sys.stdin.buffer, progress=hook
            )
        _check(result, f"upload of standard input to {dst.value} failed")
        report.result(result, result.content)
        return EXIT_OK
    if dst.kind == "stdio" and src.kind == "oss" and src.key and not src.key.endswith("/"):
        if report.as_json:
            raise CliError("--json cannot share standard output with the object", EXIT_USAGE)
        sys.stdout.flush()
        with _oss(args) as oss, report.progress("download") as hook:
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
                    dst.bucket, dst.key, src.value, progress=hook, on_action=show, **options
                )
            else:
                result = oss.sync_download(
                    src.bucket, src.key, dst.value, progress=hook, on_action=show, **options
                )
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
    where = parse_oss_url(args.url)
    report = _Reporter(args)
    delimiter = None if args.recursive else "/"
    with _oss(args) as oss:
        if report.as_json:
            result = oss.list_objects(where.bucket, where.key, delimiter)
            _check(result, f"cannot list {where.value}")
            report.result(result)
            return EXIT_OK
        from agentbay_oss.errors import OssError

        try:  # a page at a time: a listing of millions of keys prints in constant memory
            for page in oss.iter_objects(where.bucket, where.key, delimiter):
                if report.quiet:
                    continue
                for prefix in page.common_prefixes:
                    print(f"{'':19}  {'PRE':>12}  {prefix}")
                for entry in page.entries:
                    modified = entry.last_modified
                    stamp = modified.strftime("%Y-%m-%d %H:%M:%S") if modified else "-"
                    print(f"{stamp:19}  {entry.size:>12}  {entry.key}")
        except OssError as exc:
            raise CliError(f"cannot list {where.value}: {exc}", cause=exc) from None
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


# ---------------------------------------------------------------------------- main
def _debug() -> bool:
    return os.environ.get("AGENTBAY_OSS_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


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
