"""The bad-input catalogue: every case gets success=False, a message a person can act on (what
failed, where, what to do), no exception, and nothing written locally or on the server.

Each case sets up its inputs, calls `env.snapshot()`, makes ONE call through the public API
and returns (result, words): every word must appear in the error message (case-insensitive).
Run with `-s` to print the catalogue (case -> message).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import oss2
import pytest
from rel_helpers import (
    PART,
    QUICK,
    closed_port,
    junk_server,
    local_state,
    new_oss,
    oss_session,
    peer_bucket,
    remote_state,
    run,
    write_file,
)

from agentbay_oss.aio import AsyncAgentBay, TransferConfig
from agentbay_oss.checkpoint import CheckpointStore
from agentbay_oss.models import ApiResponse, ProgressEvent
from agentbay_oss.protocol.signing import (
    Credentials,
    encode_query,
    presign_v1_query,
    presign_v4_query,
)
from agentbay_oss.server import FaultConfig, LocalOssServer


@dataclass
class Env:
    creds: Any
    bucket: str
    srv: LocalOssServer
    root: Path  # everything local of the case lives here (inputs and destinations)
    tmpfs: Path | None  # a 1 MiB tmpfs when we can mount one (root), else None
    monkeypatch: pytest.MonkeyPatch
    peer: oss2.Bucket = field(init=False)
    snap: tuple[Any, Any] | None = None

    def __post_init__(self) -> None:
        self.peer = peer_bucket(self.creds, self.bucket)
        self.out.mkdir()

    @property
    def out(self) -> Path:
        """An existing, empty destination directory."""
        return self.root / "out"

    def src(self, name: str = "f.bin", size: int = 1000) -> str:
        path = self.root / "in" / name
        write_file(path, size)
        return str(path)

    def put(self, key: str, data: bytes = b"data") -> None:
        self.peer.put_object(key, data)

    def presign(self, key: str, method: str = "GET", expires: int = 600) -> str:
        c = Credentials(
            self.creds.access_key_id, self.creds.access_key_secret, self.creds.security_token
        )
        pairs = presign_v4_query(
            c, self.creds.region, method, self.bucket, key, expires, datetime.now(timezone.utc)
        )
        return f"{self.creds.endpoint}/{self.bucket}/{key}?{encode_query(pairs)}"

    def _local(self) -> Any:
        return local_state(self.root), local_state(self.tmpfs) if self.tmpfs else None

    def snapshot(self) -> None:
        self.snap = (self._local(), remote_state(self.peer))

    def unchanged(self) -> None:
        assert self.snap is not None, "the case did not take a snapshot before its call"
        local, remote = self.snap
        assert self._local() == local, "something was written locally"
        assert remote_state(self.peer) == remote, "something was written on the server"

    @contextlib.asynccontextmanager
    async def oss(self, config: TransferConfig = QUICK, **env: Any) -> Any:
        async with oss_session(self.creds, config, **env) as o:
            yield o

    async def in_child(
        self,
        method: str,
        *args: str,
        config: TransferConfig = QUICK,
        max_file_size: int | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> ApiResponse:
        """`oss.<method>(*args)` in a fresh Python process: for limits this process must not
        take on (a file size limit, dropped capabilities)."""
        c = self.creds
        child_env = {
            **os.environ,
            "T_AK": c.access_key_id,
            "T_SK": c.access_key_secret,
            "T_TOKEN": c.security_token,
            "T_EP": c.endpoint,
            "T_REGION": c.region,
        }
        spec = json.dumps([method, args, config.model_dump_json(), max_file_size])
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _CHILD, spec],
            env=child_env,
            preexec_fn=preexec_fn,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return ApiResponse(**json.loads(proc.stdout.strip().splitlines()[-1]))


_CHILD = r"""
import asyncio, json, os, resource, signal, sys
from agentbay_oss.aio import AsyncAgentBay, TransferConfig
method, args, config, max_file_size = json.loads(sys.argv[1])
async def main():
    oss = (await AsyncAgentBay(TransferConfig.model_validate_json(config)).create()).session.oss
    e = os.environ
    await oss.env_init(e["T_AK"], e["T_SK"], e["T_TOKEN"], endpoint=e["T_EP"], region=e["T_REGION"])
    if max_file_size is not None:  # writes past it fail with EFBIG (the signal is ignored)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_size, hard))
    r = await getattr(oss, method)(*args)
    print(json.dumps({"success": r.success, "error_message": r.error_message}))
    await oss._session.delete()
asyncio.run(main())
"""
# Without root (no tmpfs), a full disk is played by a file size limit: writes fail with
# EFBIG ("File too large") instead of ENOSPC, on the same write path.
FILE_SIZE_LIMIT = 256 * 1024


Case = Callable[[Env], Awaitable[tuple[ApiResponse, list[str]]]]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    CASES[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------------------- local paths


@case
async def missing_path(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "k", str(env.root / "nope.txt"))
    return r, ["no such file", "nope.txt", "check that the path exists"]


@case
async def unreadable_file(env: Env) -> tuple[ApiResponse, list[str]]:
    """chmod 000. Root reads anything: then the upload runs in a child process without the
    capabilities that bypass file permissions, so the check is real either way."""
    path = env.src("secret.bin")
    os.chmod(path, 0)
    env.snapshot()
    if os.geteuid() != 0:
        async with env.oss() as oss:
            r = await oss.upload(env.bucket, "k", path)
    else:
        r = await env.in_child("upload", env.bucket, "k", path, preexec_fn=_drop_dac_capabilities)
    return r, ["permission denied", "secret.bin", "check file permissions"]


def _drop_dac_capabilities() -> None:
    """In the child before exec: root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys
    file modes like anyone else (dropped from the bounding set, so exec cannot regain them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@case
async def fifo_as_path(env: Env) -> tuple[ApiResponse, list[str]]:
    fifo = env.root / "pipe"
    os.mkfifo(fifo)
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "k", str(fifo))
    return r, ["pipe", "fifo", "not a regular file", "upload regular files only"]


@case
async def socket_as_path(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.root / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        env.snapshot()
        async with env.oss() as oss:
            r = await oss.upload(env.bucket, "k", str(path))
    return r, ["sock", "socket", "not a regular file", "upload regular files only"]


@case
async def nul_in_path(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "k", str(env.root / "a\0b"))
    return r, ["path contains a nul", "remove the nul character"]


@case
async def directory_to_presigned_url(env: Env) -> tuple[ApiResponse, list[str]]:
    d = env.root / "tree"
    write_file(d / "a.txt", 10)
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload_anonymous(env.presign("t/a.txt", "PUT"), str(d))
    return r, ["tree", "is a directory", "presigned url names one object", "single file"]


@case
async def symlink_loop_in_tree(env: Env) -> tuple[ApiResponse, list[str]]:
    d = env.root / "tree"
    d.mkdir()
    os.symlink("b", d / "a")
    os.symlink("a", d / "b")
    os.symlink(".", d / "self")  # a symlinked directory: not followed (no endless walk)
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "t", str(d))
    return r, ["symbolic link loop", "tree/a:", "tree/b:", "2 item(s)", "fix or remove the link"]


# ---------------------------------------------------------------------------- keys, buckets


@case
async def empty_key(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "", path)
    return r, ["key is empty", "pass a key"]


@case
async def key_too_long(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "k" * 1024, path)
    return r, ["1024 bytes", "at most 1023", "shorter key"]


@case
async def key_multibyte_too_long(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "é" * 512, path)  # 512 characters, 1024 bytes
    return r, ["1024 bytes", "at most 1023", "shorter key"]


@case
async def key_leading_slash(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "/etc/passwd", path)
    return r, ["starts with '/'", "must not start with"]


@case
async def key_with_nul(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "a\0b", path)
    return r, ["key contains a nul", "remove the nul character"]


@case
async def key_not_utf8(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "bad\udc80name", path)
    return r, ["not valid utf-8", "remove lone surrogate"]


def _bucket_case(name: str, bad: str) -> None:
    async def fn(env: Env) -> tuple[ApiResponse, list[str]]:
        path = env.src()
        env.snapshot()
        async with env.oss() as oss:
            r = await oss.upload(bad, "k", path)
        return r, ["invalid bucket name", repr(bad)[:20], "lowercase letters, digits and '-'"]

    fn.__name__ = name
    case(fn)


_bucket_case("bucket_uppercase", "My_Bucket")
_bucket_case("bucket_empty", "")
_bucket_case("bucket_too_long", "b" * 64)
_bucket_case("bucket_leading_dash", "-bucket")
_bucket_case("bucket_with_slash", "bucket/key")


@case
async def bucket_does_not_exist(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src(size=3 * PART)  # multipart: no upload must be left behind either
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload(env.bucket + "-missing", "k", path)
    return r, ["nosuchbucket", "404", "check the bucket name"]


@case
async def object_does_not_exist(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download(env.bucket, "nothing/here.txt", str(env.out))
    return r, ["no object", "nothing/here.txt", "no objects under", "check the key"]


# ---------------------------------------------------------------------------- setup, credentials


@case
async def upload_before_env_init(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    oss = await new_oss()
    r = await oss.upload(env.bucket, "k", path)
    await oss._session.delete()
    return r, ["not initialized", "env_init"]


@case
async def download_before_env_init(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("k")
    env.snapshot()
    oss = await new_oss()
    r = await oss.download(env.bucket, "k", str(env.out / "k"))
    await oss._session.delete()
    return r, ["not initialized", "env_init"]


@case
async def invalid_transfer_config(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    r = await AsyncAgentBay({"concurrency": 0, "part_size": 10}).create()
    return r, ["concurrency", "part_size", "fix the transferconfig"]


@case
async def empty_credentials(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    oss = await new_oss()
    r = await oss.env_init("", "", endpoint=env.creds.endpoint, region=env.creds.region)
    await oss._session.delete()
    return r, ["access_key_id is empty", "pass a non-empty access_key_id"]


@case
async def wrong_secret(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss(access_key_secret="not-the-secret") as oss:
        r = await oss.upload(env.bucket, "k", path)
    return r, ["signaturedoesnotmatch", "403", f"oss://{env.bucket}/k", "check access_key_secret"]


@case
async def unknown_key_id(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss(access_key_id="LTAIunknownKeyId") as oss:
        r = await oss.upload(env.bucket, "k", path)
    return r, ["invalidaccesskeyid", "403", "check access_key_id"]


@case
async def missing_sts_token(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with env.oss(securityToken=None) as oss:
        r = await oss.upload(env.bucket, "k", path)
    return r, ["invalidsecuritytoken", "403", "pass securitytoken= to env_init"]


@case
async def expired_sts_token(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("k")
    env.snapshot()
    async with env.oss() as oss:
        env.srv.expire_token()
        r = await oss.download(env.bucket, "k", str(env.out / "k"))
    c = env.creds
    env.srv.set_credentials(c.access_key_id, c.access_key_secret, c.security_token)
    return r, ["securitytokenexpired", "403", "new sts credentials", "credentials_provider"]


@case
async def clock_skew(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    env.srv.faults = FaultConfig(clock_offset_s=3600)  # the server's clock runs an hour ahead
    async with env.oss() as oss:
        r = await oss.upload(env.bucket, "k", path)
    env.srv.faults = FaultConfig()
    return r, ["requesttimetooskewed", "403", "clock"]


# ---------------------------------------------------------------------------- endpoints, URLs


@case
async def unreachable_endpoint(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    port = closed_port()
    env.snapshot()
    async with env.oss(endpoint=f"http://127.0.0.1:{port}") as oss:
        r = await oss.upload(env.bucket, "k", path)
    return r, ["cannot connect", f"127.0.0.1:{port}", "server is running"]


@case
async def unresolvable_host(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss(endpoint="http://nonexistent.invalid") as oss:
        r = await oss.download(env.bucket, "k", str(env.out / "k"))
    return r, ["cannot resolve", "nonexistent.invalid", "check the endpoint spelling"]


@case
async def malformed_endpoint(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    oss = await new_oss()
    r = await oss.env_init("ak", "sk", endpoint="http://[::1", region="cn-hangzhou")
    await oss._session.delete()
    return r, ["invalid endpoint", "http://[::1", "use a url like"]


@case
async def malformed_url(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download_anonymous("htp:/example.com/file", str(env.out))
    return r, ["unsupported url", "htp", "pass an http:// or https:// url"]


@case
async def url_with_bad_port(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download_anonymous("http://127.0.0.1:99999/x", str(env.out))
    return r, ["malformed url", "127.0.0.1:99999", "port", "check the url"]


@case
async def url_answering_403(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("private.txt")
    env.snapshot()
    url = f"{env.creds.endpoint}/{env.bucket}/private.txt"  # not signed, private bucket
    async with env.oss() as oss:
        r = await oss.download_anonymous(url, str(env.out))
    return r, ["accessdenied", "403", "private.txt", "presigned url"]


@case
async def url_answering_404(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download_anonymous(env.presign("gone.txt"), str(env.out))
    return r, ["nosuchkey", "404", "gone.txt", "check the object key"]


@case
async def url_expired_signature_v1(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("old.txt")
    c = env.creds
    creds = Credentials(c.access_key_id, c.access_key_secret, c.security_token)
    pairs = presign_v1_query(creds, "GET", env.bucket, "old.txt", int(time.time()) - 60)
    url = f"{c.endpoint}/{env.bucket}/old.txt?{encode_query(pairs)}"
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download_anonymous(url, str(env.out))
    return r, ["expired", "403", "old.txt", "sign a new one"]


@case
async def url_expired_signature_v4(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("old.txt")
    c = env.creds
    creds = Credentials(c.access_key_id, c.access_key_secret, c.security_token)
    then = datetime.now(timezone.utc) - timedelta(hours=2)
    pairs = presign_v4_query(creds, c.region, "PUT", env.bucket, "old.txt", 60, then)
    url = f"{c.endpoint}/{env.bucket}/old.txt?{encode_query(pairs)}"
    path = env.src()
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.upload_anonymous(url, path)
    return r, ["expired", "403", "old.txt", "sign a new one"]


@case
async def url_directory_without_file_name(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("dir/", b"")
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download_anonymous(env.presign("dir/"), str(env.out))
    return r, ["cannot tell a file name", "pass a file path"]


# ---------------------------------------------------------------------------- destinations


@case
async def prefix_onto_existing_file(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("p/a.txt")
    target = env.root / "target.txt"
    target.write_bytes(b"keep me")
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download(env.bucket, "p/", str(target))
    return r, ["target.txt is a file", "prefix", "pass a directory path"]


@case
async def object_onto_existing_directory(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("k")
    (env.out / "k").mkdir()
    (env.out / "k" / "inside").write_bytes(b"keep me")
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download(env.bucket, "k", str(env.out))
    return r, ["is an existing directory", "out/k", "directory path ending with a separator"]


@case
async def destination_parent_is_a_file(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("k")
    blocker = env.root / "blocker"
    blocker.write_bytes(b"keep me")
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download(env.bucket, "k", str(blocker / "sub" / "k"))
    return r, ["blocker is a file, not a directory", "move that file away"]


@case
async def prefix_key_under_existing_file(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("p/d/x.txt")
    (env.out / "d").write_bytes(b"keep me")  # a file where the key needs a directory
    env.snapshot()
    async with env.oss() as oss:
        r = await oss.download(env.bucket, "p/", str(env.out))
    return r, ["p/d/x.txt", "out/d is a file, not a directory", "move that file away"]


def _evil_key_case(name: str, key: str, word: str) -> None:
    async def fn(env: Env) -> tuple[ApiResponse, list[str]]:
        env.put(key)
        env.snapshot()
        async with env.oss() as oss:
            r = await oss.download(env.bucket, "", str(env.out))
        return r, ["refused", word, "1 item(s)"]

    fn.__name__ = name
    case(fn)


_evil_key_case("prefix_key_dotdot", "../x", "'..'")
_evil_key_case("prefix_key_absolute", "/etc/x", "absolute path")
_evil_key_case("prefix_key_inner_dotdot", "a/../../x", "'..'")
_evil_key_case("prefix_key_backslash", "a\\..\\x", "backslash")
_evil_key_case("prefix_key_nul", "a\0b", "nul")


def _blocked_checkpoint_dir(env: Env) -> TransferConfig:
    blocker = env.root / "blocker"
    blocker.write_bytes(b"a file where the checkpoint directory should go")
    return QUICK.model_copy(update={"checkpoint_dir": blocker / "ckpt"})


@case
async def checkpoint_dir_unusable_upload(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src(size=3 * PART)  # multipart: the record is written before the first part
    cfg = _blocked_checkpoint_dir(env)
    env.snapshot()
    async with env.oss(cfg) as oss:
        r = await oss.upload(env.bucket, "k", path)
    return r, ["checkpoint_dir", "blocker/ckpt", "not a directory", "another"]


@case
async def checkpoint_dir_unusable_download(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("big", b"x" * (3 * PART))
    cfg = _blocked_checkpoint_dir(env)
    env.snapshot()
    async with env.oss(cfg) as oss:
        r = await oss.download(env.bucket, "big", str(env.out / "big"))
    return r, ["checkpoint_dir", "blocker/ckpt", "not a directory", "another"]


def _full_checkpoint_dir(env: Env) -> TransferConfig:
    """A checkpoint directory on a full filesystem: the first record cannot be saved."""
    assert env.tmpfs is not None
    with contextlib.suppress(OSError), (env.tmpfs / "filler").open("wb") as f:
        while True:
            f.write(b"f" * 65536)
    ckpt = env.tmpfs / "ckpt"
    ckpt.mkdir()
    return QUICK.model_copy(update={"checkpoint_dir": ckpt})


@case
async def checkpoint_dir_full_upload(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src(size=3 * PART)
    if env.tmpfs is None:  # the record is the only file an upload writes: limit its size
        (env.root / "ckpt").mkdir()
        cfg = QUICK.model_copy(update={"checkpoint_dir": env.root / "ckpt"})
        env.snapshot()
        r = await env.in_child("upload", env.bucket, "k", path, config=cfg, max_file_size=16)
        return r, ["checkpoint_dir", "file too large", "free space there"]
    cfg = _full_checkpoint_dir(env)
    env.snapshot()
    async with env.oss(cfg) as oss:
        r = await oss.upload(env.bucket, "k", path)  # initiated, then aborted: nothing left
    return r, ["checkpoint_dir", "no space left", "free space there"]


@case
async def checkpoint_dir_full_download(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("big", b"x" * (3 * PART))
    if env.tmpfs is None:
        # A download writes its temp file (much bigger than the record) before the record,
        # so no file size limit singles the record out: the store's save fails instead.
        def full(*_: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        env.monkeypatch.setattr(CheckpointStore, "save", full)
        (env.root / "ckpt").mkdir()
        cfg = QUICK.model_copy(update={"checkpoint_dir": env.root / "ckpt"})
    else:
        cfg = _full_checkpoint_dir(env)
    env.snapshot()
    async with env.oss(cfg) as oss:
        r = await oss.download(env.bucket, "big", str(env.out / "big"))
    return r, ["checkpoint_dir", "no space left", "free space there"]


# ---------------------------------------------------------------------------- during a transfer


@case
async def object_changed_mid_download(env: Env) -> tuple[ApiResponse, list[str]]:
    env.put("big", b"1" * (4 * PART))
    (env.out / "big").write_bytes(b"previous version")
    env.snapshot()
    replaced = False

    def overwrite(event: ProgressEvent) -> None:
        nonlocal replaced
        if event.bytes_done and not replaced:
            replaced = True
            env.put("big", b"2" * (4 * PART))  # same key, new ETag: the next range must fail

    async with env.oss(QUICK.model_copy(update={"concurrency": 2})) as oss:  # ranged
        r = await oss.download(env.bucket, "big", str(env.out), progress=overwrite)
    assert replaced
    return r, ["changed during the transfer", "412", "oss://", "run the transfer again"]


def _disk_full_case(name: str, size: int, threshold: int) -> None:
    async def fn(env: Env) -> tuple[ApiResponse, list[str]]:
        env.put("obj", b"z" * size)
        cfg = QUICK.model_copy(update={"multipart_threshold": threshold})
        if env.tmpfs is None:  # every size here is past the limit
            dest = env.out / "obj"
            dest.write_bytes(b"previous version")
            env.snapshot()
            args = (env.bucket, "obj", str(dest))
            r = await env.in_child("download", *args, config=cfg, max_file_size=FILE_SIZE_LIMIT)
            return r, ["file too large", "obj", "ulimit -f"]
        dest = env.tmpfs / "obj"
        (env.tmpfs / "filler").write_bytes(b"f" * 700 * 1024)  # of a 1 MiB filesystem
        dest.write_bytes(b"previous version")
        env.snapshot()
        async with env.oss(cfg) as oss:
            r = await oss.download(env.bucket, "obj", str(dest))
        return r, ["no space left", "obj", "free disk space"]

    fn.__name__ = name
    case(fn)


_disk_full_case("disk_full_ranged_download", 2 * 1024 * 1024, 4 * PART)
_disk_full_case("disk_full_streamed_download", 1536 * 1024, 16 * 1024 * 1024)
_disk_full_case("disk_full_small_download", 600 * 1024, 16 * 1024 * 1024)


# ---------------------------------------------------------------------------- not OSS


@case
async def html_instead_of_oss_upload(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with junk_server() as url, env.oss(endpoint=url) as oss:
        r = await oss.upload("html", "k", path)
    return r, ["not an oss reply", "text/html", "127.0.0.1", "check the endpoint"]


@case
async def html_instead_of_oss_download(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with junk_server() as url, env.oss(endpoint=url) as oss:
        r = await oss.download("html", "k", str(env.out))
    return r, ["not an oss reply", "text/html", "check the endpoint"]


@case
async def garbage_xml_listing(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with junk_server() as url, env.oss(endpoint=url) as oss:
        r = await oss.download("xml", "p/", str(env.out))
    return r, ["not xml", "listbucketresult", "check that the endpoint is an oss service"]


@case
async def garbage_xml_multipart(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src(size=3 * PART)
    env.snapshot()
    async with junk_server() as url, env.oss(endpoint=url) as oss:
        r = await oss.upload("xml", "k", path)
    return r, ["not xml", "initiatemultipartuploadresult", "check that the endpoint"]


@case
async def html_403_from_proxy(env: Env) -> tuple[ApiResponse, list[str]]:
    path = env.src()
    env.snapshot()
    async with junk_server() as url, env.oss(endpoint=url) as oss:
        r = await oss.upload("deny", "k", path)
    return r, ["403", "not an oss error", "text/html", "check the endpoint"]


@case
async def html_502_from_gateway(env: Env) -> tuple[ApiResponse, list[str]]:
    env.snapshot()
    async with junk_server() as url, env.oss(endpoint=url) as oss:
        r = await oss.download("gateway", "k", str(env.out / "k"))
    return r, ["502", "text/html", "busy or failing"]


# ---------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def tmpfs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    """A 1 MiB tmpfs for the disk-full cases (root only); None means simulate ENOSPC."""
    mnt = tmp_path_factory.mktemp("tmpfs")
    ok = (
        sys.platform.startswith("linux")
        and os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        == 0
    )
    yield mnt if ok else None
    if ok:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(
    name: str,
    creds: Any,
    bucket: str,
    oss_server: LocalOssServer,
    tmp_path: Path,
    tmpfs_dir: Path | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tmpfs = None
    if tmpfs_dir is not None:
        tmpfs = tmpfs_dir / name
        tmpfs.mkdir()
    env = Env(creds, bucket, oss_server, tmp_path, tmpfs, monkeypatch)
    result, words = run(CASES[name](env))  # an exception escaping here fails the test
    print(f"CATALOGUE {name}: {result.error_message}")
    assert result.success is False
    message = result.error_message.lower()
    missing = [w for w in words if w.lower() not in message]
    assert not missing, f"{missing} not in: {result.error_message}"
    env.unchanged()
    assert not Path("/etc/x").exists()  # the traversal cases aim there
    if tmpfs is not None:
        shutil.rmtree(tmpfs)  # free the small filesystem for the next case
    assert not any(".agentbay-" in p.name for p in tmp_path.rglob("*"))


def test_catalogue_is_big_enough() -> None:
    assert len(CASES) >= 30
