"""Peers read what we write, we read what peers write; their presigned URLs work with us."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import alibabacloud_oss_v2 as ossv2
import oss2
from aio_helpers import PART, THRESHOLD, oss_session, run, write_file

from agentbay_oss.protocol.crc64 import crc64


def test_objects_written_by_peers_download_byte_exact(
    creds: Any, bucket: str, peer: oss2.Bucket, v2client: Any, tmp_path: Path
) -> None:
    small = write_file(tmp_path / "s", 3000)
    big = write_file(tmp_path / "b", 4 * PART + 17, seed=7)
    peer.put_object("o2/small", small)
    oss2.resumable_upload(
        peer,
        "o2/multi",
        str(tmp_path / "b"),
        multipart_threshold=THRESHOLD,
        part_size=PART,
        num_threads=2,
        store=oss2.ResumableStore(root=str(tmp_path / "store")),
    )
    v2client.put_object(ossv2.PutObjectRequest(bucket=bucket, key="v2/small", body=small))
    uploader = v2client.uploader(part_size=PART, parallel_num=2, leave_parts_on_error=False)
    uploader.upload_file(
        ossv2.PutObjectRequest(bucket=bucket, key="v2/multi"), filepath=str(tmp_path / "b")
    )

    async def main() -> None:
        async with oss_session(creds) as oss:
            for key, data in [
                ("o2/small", small),
                ("o2/multi", big),
                ("v2/small", small),
                ("v2/multi", big),
            ]:
                r = await oss.download(bucket, key, str(tmp_path / "out" / key))
                assert r.success, r.error_message
                assert (tmp_path / "out" / key).read_bytes() == data
                assert r.objects[0].crc64 == crc64(data)

    run(main())


def test_peers_read_what_we_write(
    creds: Any, bucket: str, peer: oss2.Bucket, v2client: Any, tmp_path: Path
) -> None:
    small = write_file(tmp_path / "s", 777)
    big = write_file(tmp_path / "b", 5 * PART + 1, seed=3)

    async def main() -> None:
        async with oss_session(creds) as oss:
            for key, name in [("ours/small", "s"), ("ours/multi", "b")]:
                r = await oss.upload(bucket, key, str(tmp_path / name))
                assert r.success, r.error_message

    run(main())
    for key, data in [("ours/small", small), ("ours/multi", big)]:
        got = peer.get_object(key)  # oss2 checks the CRC header itself (enable_crc)
        assert got.read() == data
        assert int(got.headers["x-oss-hash-crc64ecma"]) == crc64(data)
        res = v2client.get_object(ossv2.GetObjectRequest(bucket=bucket, key=key))
        assert res.body.read() == data
        assert int(res.hash_crc64) == crc64(data)
    oss2.resumable_download(
        peer,
        "ours/multi",
        str(tmp_path / "rd"),
        multiget_threshold=THRESHOLD,
        part_size=PART,
        num_threads=2,
        store=oss2.ResumableDownloadStore(root=str(tmp_path / "store")),
    )
    assert (tmp_path / "rd").read_bytes() == big


def test_presigned_urls_of_peers(
    creds: Any, bucket: str, peer: oss2.Bucket, v2client: Any, tmp_path: Path
) -> None:
    big = write_file(tmp_path / "b", 3 * PART + 5, seed=9)
    small = write_file(tmp_path / "s", 100)
    put_v1 = peer.sign_url("PUT", "p/oss2-put", 300)  # oss2 signs V1 by default
    auth_v4 = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(
            creds.access_key_id, creds.access_key_secret, creds.security_token
        )
    )
    peer_v4 = oss2.Bucket(auth_v4, creds.endpoint, bucket, region=creds.region)
    put_v4 = peer_v4.sign_url("PUT", "p/oss2v4-put", 300)
    put_v2 = v2client.presign(ossv2.PutObjectRequest(bucket=bucket, key="p/v2-put")).url

    async def main() -> None:
        async with oss_session(creds) as oss:
            for url in (put_v1, put_v4, put_v2):
                r = await oss.upload_anonymous(url, str(tmp_path / "b"))
                assert r.success, r.error_message
            get_urls = {
                "oss2": peer.sign_url("GET", "p/oss2-put", 300),
                "oss2v4": peer_v4.sign_url("GET", "p/oss2v4-put", 300),
                "v2": v2client.presign(ossv2.GetObjectRequest(bucket=bucket, key="p/v2-put")).url,
            }
            for name, url in get_urls.items():
                r = await oss.download_anonymous(url, str(tmp_path / name))
                assert r.success, r.error_message
                assert (tmp_path / name).read_bytes() == big
            # A small one into a directory: the name comes from the URL path.
            peer.put_object("p/named.txt", io.BytesIO(small))
            (tmp_path / "dir").mkdir()
            r = await oss.download_anonymous(
                peer.sign_url("GET", "p/named.txt", 300), str(tmp_path / "dir")
            )
            assert r.success, r.error_message

    run(main())
    for key in ("p/oss2-put", "p/oss2v4-put", "p/v2-put"):
        assert peer.get_object(key).read() == big
    assert (tmp_path / "dir" / "named.txt").read_bytes() == small


def test_anonymous_directory_to_public_bucket(
    oss_server: Any, creds: Any, peer: oss2.Bucket, tmp_path: Path
) -> None:
    name = peer.bucket_name + "-pub"
    oss_server.create_bucket(name, public=True)
    src = tmp_path / "src"
    files = {
        "a.txt": write_file(src / "a.txt", 10),
        "sub/ü b.bin": write_file(src / "sub" / "ü b.bin", THRESHOLD + 1, seed=5),
    }
    (src / "empty").mkdir()
    base = f"{creds.endpoint}/{name}/drop"

    async def main() -> None:
        async with oss_session(creds) as oss:
            up = await oss.upload_anonymous(base, str(src))
            assert up.success, up.error_message
            assert up.files == 2
            for rel, data in files.items():
                url = f"{base}/{quote(rel)}"
                r = await oss.download_anonymous(url, str(tmp_path / "dst" / rel))
                assert r.success, r.error_message
                assert (tmp_path / "dst" / rel).read_bytes() == data

    run(main())
    pub = oss2.Bucket(peer.auth, creds.endpoint, name)
    assert sorted(o.key for o in oss2.ObjectIterator(pub)) == [
        "drop/a.txt",
        "drop/empty/",
        "drop/sub/ü b.bin",
    ]


def test_download_anonymous_names_file_from_content_disposition(
    creds: Any, peer: oss2.Bucket, tmp_path: Path
) -> None:
    data = b"report body"
    peer.put_object("obj/opaque-id", data)
    params = {"response-content-disposition": 'attachment; filename="q3 report.pdf"'}
    url = peer.sign_url("GET", "obj/opaque-id", 300, params=params)
    evil = peer.sign_url(
        "GET",
        "obj/opaque-id",
        300,
        params={"response-content-disposition": 'attachment; filename="../../evil"'},
    )
    (tmp_path / "in").mkdir()

    async def main() -> None:
        async with oss_session(creds) as oss:
            r = await oss.download_anonymous(url, str(tmp_path / "in"))
            assert r.success, r.error_message
            r = await oss.download_anonymous(evil, str(tmp_path / "in") + "/")
            assert r.success, r.error_message

    run(main())
    assert (tmp_path / "in" / "q3 report.pdf").read_bytes() == data
    assert (tmp_path / "in" / "evil").read_bytes() == data  # only the base name is used
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
