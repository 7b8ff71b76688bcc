from __future__ import annotations

from pathlib import Path

import pytest

from agentbay_oss.errors import InvalidInputError, UnsafeKeyError
from agentbay_oss.protocol.keys import (
    dir_prefix,
    key_basename,
    key_to_relparts,
    local_path_for,
    upload_key,
    url_basename,
    validate_bucket,
    validate_key,
)


@pytest.mark.parametrize("name", ["abc", "my-bucket-1", "a" * 63, "0ab", "b"])
def test_good_buckets(name: str) -> None:
    validate_bucket(name)


@pytest.mark.parametrize("name", ["", "a" * 64, "Abc", "-abc", "abc-", "a_b", "a.b", "a b"])
def test_bad_buckets(name: str) -> None:
    with pytest.raises(InvalidInputError, match="bucket"):
        validate_bucket(name)


def test_keys() -> None:
    validate_key("a/b/c.txt")
    validate_key("ünïcødé/文件 name.txt")
    validate_key("x" * 1023)
    validate_key("", allow_empty=True)
    for bad, why in [
        ("", "empty"),
        ("x" * 1024, "1023"),
        ("é" * 512, "1023"),
        ("/abs", "starts with"),
        ("\\abs", "starts with"),
        ("a\0b", "NUL"),
        ("\ud800", "UTF-8"),
    ]:
        with pytest.raises(InvalidInputError, match=why):
            validate_key(bad)


def test_upload_key_and_prefix() -> None:
    assert upload_key("dir/", Path("/x/f.txt")) == "dir/f.txt"
    assert upload_key("name.txt", Path("/x/f.txt")) == "name.txt"
    assert dir_prefix("p") == "p/"
    assert dir_prefix("p/") == "p/"
    assert dir_prefix("") == ""


def test_relparts() -> None:
    assert key_to_relparts("p/a/b.txt", "p/") == ("a", "b.txt")
    assert key_to_relparts("p/", "p/") == ()
    assert key_to_relparts("p/d/", "p/") == ("d",)
    assert key_to_relparts("a..b/c..", "") == ("a..b", "c..")


@pytest.mark.parametrize(
    "key",
    ["p/../x", "p/a/../../x", "p//etc/x", "p/a\\..\\x", "p/a\0b", "p/./x", "p/C:/x", "p/a//b",
     "p/..", "p/../"],
)  # fmt: skip
def test_traversal_refused(key: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeKeyError):
        local_path_for(tmp_path, key, "p/")


def test_absolute_with_empty_prefix(tmp_path: Path) -> None:
    with pytest.raises(UnsafeKeyError, match="absolute"):
        local_path_for(tmp_path, "/etc/passwd", "")
    with pytest.raises(UnsafeKeyError):
        local_path_for(tmp_path, "x", "p/")


def test_local_path_inside(tmp_path: Path) -> None:
    assert local_path_for(tmp_path, "p/a/b", "p/") == tmp_path / "a" / "b"
    assert local_path_for(tmp_path, "p/", "p/") == tmp_path


def test_basenames() -> None:
    assert key_basename("a/b/c.txt") == "c.txt"
    assert key_basename("a/b/") == "b"
    with pytest.raises(UnsafeKeyError):
        key_basename("..")
    assert url_basename("/b/k%20x") == "k%20x"
    assert url_basename("/") == ""
    assert url_basename("/a/..") == ""
