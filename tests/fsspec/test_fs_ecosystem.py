"""`oss://` as the data ecosystem sees it: the entry point, pandas and pyarrow end to end,
options from the environment, pickles for Dask workers, fork, the caller's loop, secrets."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import pickle
import subprocess
import sys
import time
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from fsspec.registry import known_implementations
from pyarrow.fs import FSSpecHandler, PyFileSystem

from agentbay_oss.fsspec import OssFileSystem


def test_core_package_never_imports_fsspec() -> None:
    code = (
        "import sys, agentbay_oss, agentbay_oss.aio, agentbay_oss.sync, agentbay_oss.aio.engine\n"
        "bad = sorted(m for m in ('fsspec', 'pandas', 'pyarrow') if m in sys.modules)\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_protocol_oss_resolves_to_us_through_the_entry_point() -> None:
    eps = importlib.metadata.entry_points(group="fsspec.specs")
    assert [ep.value for ep in eps if ep.name == "oss"] == ["agentbay_oss.fsspec:OssFileSystem"]
    # fsspec's built-in table names ossfs for "oss"; the entry point replaced it at import.
    assert known_implementations["oss"]["class"] == ("agentbay_oss.fsspec.OssFileSystem")
    assert fsspec.get_filesystem_class("oss") is OssFileSystem


def test_pandas_parquet_and_csv_with_storage_options(
    storage_options: dict[str, Any], bucket: str
) -> None:
    df = pd.DataFrame({"i": range(1000), "s": [f"row {i}" for i in range(1000)]})
    url = f"oss://{bucket}/frames/x.parquet"
    df.to_parquet(url, storage_options=storage_options)
    back = pd.read_parquet(url, storage_options=storage_options, columns=["s"])
    assert back["s"].tolist() == df["s"].tolist()
    df.to_csv(f"oss://{bucket}/frames/x.csv", index=False, storage_options=storage_options)
    csv = pd.read_csv(f"oss://{bucket}/frames/x.csv", storage_options=storage_options)
    assert csv.equals(df)


def test_pyarrow_dataset_through_fsspec_handler(ossfs: OssFileSystem, bucket: str) -> None:
    pafs = PyFileSystem(FSSpecHandler(ossfs))
    table = pa.table({"k": ["a", "b"] * 50, "v": list(range(100))})
    ds.write_dataset(
        table,
        f"{bucket}/ds",
        filesystem=pafs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("k", pa.string())]), flavor="hive"),
    )
    assert sorted(ossfs.ls(f"{bucket}/ds", detail=False)) == [
        f"{bucket}/ds/k=a",
        f"{bucket}/ds/k=b",
    ]
    got = ds.dataset(f"{bucket}/ds", filesystem=pafs, format="parquet", partitioning="hive")
    out = got.to_table(filter=ds.field("k") == "b").sort_by("v")
    assert out["v"].to_pylist() == list(range(1, 100, 2))
    with ossfs.open(f"{bucket}/one.parquet", "wb") as f:
        pq.write_table(table, f)
    assert pq.read_table(f"{bucket}/one.parquet", filesystem=pafs).equals(table)


def test_options_from_the_cli_environment(
    storage_options: dict[str, Any], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = storage_options
    for name, value in (
        ("OSS_ACCESS_KEY_ID", o["key"]),
        ("OSS_ACCESS_KEY_SECRET", o["secret"]),
        ("OSS_SESSION_TOKEN", o["token"]),
        ("OSS_ENDPOINT", o["endpoint"]),
        ("OSS_REGION", o["region"]),
    ):
        monkeypatch.setenv(name, value)
    fs = fsspec.filesystem("oss", skip_instance_cache=True)
    fs.pipe(f"{bucket}/env", b"from the environment")
    # The pickle carries what came from the environment: a worker without it can act.
    blob = pickle.dumps(fs)
    for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    assert pickle.loads(blob).cat(f"{bucket}/env") == b"from the environment"
    # Transfer options by TransferConfig's names; bad ones are a clear error.
    fs = OssFileSystem(**o, part_size=1 << 20, concurrency=3, skip_instance_cache=True)
    assert fs.config.concurrency == 3 and fs.default_block_size == 1 << 20
    with pytest.raises(ValueError, match="concurrency"):
        OssFileSystem(**o, concurrency=0, skip_instance_cache=True)


def test_pickle_carries_credentials_to_a_fresh_process(ossfs: OssFileSystem, bucket: str) -> None:
    ossfs.pipe(f"{bucket}/p", b"pickled")
    code = (
        "import pickle, sys\n"
        "fs = pickle.loads(sys.stdin.buffer.read())\n"
        f"sys.stdout.buffer.write(fs.cat({f'{bucket}/p'!r}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSS_")}
    run = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(ossfs), capture_output=True,
        env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == b"pickled"


def test_secrets_stay_out_of_repr_and_logs(
    ossfs: OssFileSystem, storage_options: dict[str, Any], bucket: str, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    ossfs.pipe(f"{bucket}/s", b"x")
    ossfs.cat(f"{bucket}/s")
    with pytest.raises(FileNotFoundError) as missing:
        ossfs.cat(f"{bucket}/none")
    shown = [repr(ossfs), str(ossfs), str(missing.value), caplog.text]
    for secret in (storage_options["secret"], storage_options["token"]):
        assert all(secret not in text for text in shown)


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_forked_child_gets_its_own_session(storage_options: dict[str, Any], bucket: str) -> None:
    fs = fsspec.filesystem("oss", **storage_options)
    fs.pipe(f"{bucket}/f", b"before fork")  # the parent's session is live
    pid = os.fork()
    if pid == 0:  # the child: fsspec's instance cache and IO loop start afresh
        code = 1
        try:
            child = fsspec.filesystem("oss", **storage_options)
            # ...and an inherited instance run on a new loop does not reuse the parent's.
            inherited = asyncio.run(fs._cat_file(f"{bucket}/f"))
            ok = child is not fs and child.cat(f"{bucket}/f") == inherited == b"before fork"
            code = 0 if ok else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert done and os.waitstatus_to_exitcode(status) == 0
    assert fs.cat(f"{bucket}/f") == b"before fork"  # the parent's session still works


def test_asynchronous_on_the_callers_loop(storage_options: dict[str, Any], bucket: str) -> None:
    async def main() -> bytes:
        fs = OssFileSystem(**storage_options, asynchronous=True, skip_instance_cache=True)
        await fs._pipe_file(f"{bucket}/a", b"async")
        try:
            return bytes(await fs._cat_file(f"{bucket}/a"))
        finally:
            await fs.aclose()

    assert asyncio.run(main()) == b"async"
