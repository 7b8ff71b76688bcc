"""`oss://` in the libraries built on fsspec, end to end on the local server: Dask on worker
processes, zarr v3, universal-pathlib."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from upath import UPath

from agentbay_oss.fsspec import OssFileSystem
from agentbay_oss.ossupath import OssPath

ZARR_SKIP = pytest.mark.skipif(sys.version_info < (3, 11), reason="zarr v3 needs Python >= 3.11")


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """Two worker processes of one thread each: every task's filesystem arrives by pickle,
    in a process where no OSS_* variable is set (the tests pass options, never environment)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# dask's parquet reader calls set_index / reset_index(inplace=True): pandas 3.1 deprecates it.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame")
def test_dask_parquet_on_worker_processes(
    dask_client: Any, storage_options: dict[str, Any], bucket: str
) -> None:
    import dask.dataframe as dd

    pdf = pd.DataFrame({"i": range(4000), "s": [f"v{i % 7}" for i in range(4000)]})
    url = f"oss://{bucket}/dask/table"
    dd.from_pandas(pdf, npartitions=4).to_parquet(url, storage_options=storage_options)
    fs = OssFileSystem(**storage_options, skip_instance_cache=True)
    parts = fs.ls(f"{bucket}/dask/table", detail=False)
    assert len([p for p in parts if p.endswith(".parquet")]) == 4
    back = dd.read_parquet(url, storage_options=storage_options, columns=["i", "s"])
    assert back.npartitions == 4
    got = back.compute().sort_values("i")  # (dtypes may differ: pyarrow strings)
    assert got["i"].tolist() == pdf["i"].tolist() and got["s"].tolist() == pdf["s"].tolist()
    # The work ran in the workers (other processes), not here.
    pids = dask_client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2 and __import__("os").getpid() not in pids.values()

    # What travels to a worker: the credentials are inside the pickle, not in its repr.
    def cat(blob: bytes, path: str) -> bytes:
        data: bytes = pickle.loads(blob).cat(path)
        return data

    blob = pickle.dumps(fs)
    fs.pipe(f"{bucket}/dask/hello", b"from a worker")
    assert dask_client.submit(cat, blob, f"{bucket}/dask/hello").result() == b"from a worker"
    for secret in (storage_options["secret"], storage_options["token"]):
        assert secret.encode() in blob
        assert secret not in repr(fs) and secret not in str(fs)


@ZARR_SKIP
def test_zarr_v3_array_round_trip(storage_options: dict[str, Any], bucket: str) -> None:
    import numpy as np
    import zarr

    url = f"oss://{bucket}/arrays/a.zarr"
    data = np.arange(60 * 70, dtype="int32").reshape(60, 70)
    arr = zarr.create_array(
        url, shape=data.shape, chunks=(16, 32), dtype="int32", storage_options=storage_options
    )
    arr[:] = data
    fs = OssFileSystem(**storage_options, skip_instance_cache=True)
    chunks = fs.find(f"{bucket}/arrays/a.zarr/c")
    assert len(chunks) == 4 * 3  # every chunk an object of its own
    back = zarr.open_array(url, mode="r", storage_options=storage_options)
    assert back.shape == (60, 70) and back.dtype == np.dtype("int32")
    assert np.array_equal(back[:], data)
    assert np.array_equal(back[10:20, 33:41], data[10:20, 33:41])


def test_upath_operations(storage_options: dict[str, Any], bucket: str) -> None:
    root = UPath(f"oss://{bucket}/up", **storage_options)  # no fallback warning: registered
    assert isinstance(root, OssPath) and isinstance(root.fs, OssFileSystem)
    (root / "a.txt").write_bytes(b"alpha")
    (root / "sub" / "b.txt").write_bytes(b"beta")
    (root / "sub" / "c.csv").write_bytes(b"x,y\n")
    assert (root / "a.txt").read_bytes() == b"alpha"
    assert (root / "sub" / "b.txt").exists() and not (root / "nope").exists()
    assert sorted(p.name for p in root.iterdir()) == ["a.txt", "sub"]
    assert (root / "sub").is_dir() and (root / "a.txt").is_file()
    assert sorted(p.name for p in root.glob("sub/*.txt")) == ["b.txt"]
    assert sorted(p.name for p in root.glob("**/*.txt")) == ["a.txt", "b.txt"]
    (root / "a.txt").unlink()
    assert not (root / "a.txt").exists()  # the listing cache saw the delete
    assert sorted(p.name for p in root.iterdir()) == ["sub"]
    with pytest.raises(FileNotFoundError):
        (root / "a.txt").read_bytes()
