"""The pytest11 plugin (agentbay_oss/pytest_plugin.py), as another project sees it: a test
file in a fresh directory, run by pytest in a subprocess, with this package installed."""

from __future__ import annotations

import uuid

import oss2
import pytest

from agentbay_oss.server import LocalOssServer
from agentbay_oss.server.credentials import OssCredentials

pytest_plugins = ["pytester"]

# Other installed plugins a fresh pytest would load too: their imports (hypothesis, zarr) cost
# seconds per run on a loaded machine and have nothing to do with ours.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:zarr", "-q")

# The README's example, verbatim in spirit: ten lines of plain oss2.
EXAMPLE = """
import oss2

def test_roundtrip(oss_credentials, oss_bucket):
    c = oss_credentials
    bucket = oss2.Bucket(oss2.Auth(c.access_key_id, c.access_key_secret), c.endpoint, oss_bucket)
    bucket.put_object("hello.txt", b"hi")
    assert bucket.get_object("hello.txt").read() == b"hi"
    assert [o.key for o in oss2.ObjectIterator(bucket)] == ["hello.txt"]

def test_each_test_gets_an_empty_bucket(oss_credentials, oss_bucket, oss_server):
    c = oss_credentials
    assert c.bucket == oss_bucket and c.endpoint == oss_server.endpoint
    bucket = oss2.Bucket(oss2.Auth(c.access_key_id, c.access_key_secret), c.endpoint, c.bucket)
    assert list(oss2.ObjectIterator(bucket)) == []
    assert "access_key_secret=***" in repr(c) and c.access_key_secret not in repr(c)
"""


def test_the_example_passes_with_plain_oss2(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE)
    # And the fixtures do not swallow failures: a wrong expectation is reported as one.
    pytester.makepyfile(
        test_wrong="""
        import oss2

        def test_missing_key(oss_credentials, oss_bucket):
            c = oss_credentials
            auth = oss2.Auth(c.access_key_id, c.access_key_secret)
            oss2.Bucket(auth, c.endpoint, oss_bucket).get_object("nope")
        """
    )
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*NoSuchKey*"])


def test_installed_but_unused_changes_nothing(pytester: pytest.Pytester) -> None:
    """No fixture used: no server thread, no aiohttp imported, no option added; the fixtures
    are listed (the plugin is loaded), and a project's own option names stay free."""
    pytester.makeconftest(
        """
        def pytest_addoption(parser):
            parser.addoption("--oss-endpoint")  # a name a project may well use itself
        """
    )
    pytester.makepyfile(
        test_plain="""
        import sys, threading

        def test_nothing_started(pytestconfig):
            assert "agentbay_oss.pytest_plugin" in sys.modules  # loaded through pytest11
            assert "aiohttp" not in sys.modules and "agentbay_oss.server.embedded" not in sys.modules
            assert not [t for t in threading.enumerate() if "oss-server" in t.name]
            assert pytestconfig.getoption("--oss-endpoint") is None
        """
    )
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=1)
    fixtures = pytester.runpytest(*QUIET, "--fixtures")
    fixtures.stdout.fnmatch_lines(
        ["oss_server*[[]session scope[]]*", "oss_bucket*", "oss_credentials*"]
    )


def test_disabled_with_p_no(pytester: pytest.Pytester) -> None:
    # The entry point's name is the handle to turn it off (`-p no:agentbay_oss`).
    pytester.makepyfile(test_x="def test_x(oss_bucket): pass")
    result = pytester.runpytest(*QUIET, "-p", "no:agentbay_oss")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'oss_bucket' not found*"])


def test_our_suite_overrides_oss_server_and_the_plugin_follows(
    oss_server: LocalOssServer, oss_bucket: str, oss_credentials: OssCredentials, bucket: str
) -> None:
    """tests/conftest.py's `oss_server` (STS token required) shadows the plugin's on purpose;
    the plugin's `oss_bucket` / `oss_credentials` then serve that server, and our own fixture
    names (`creds`, `bucket`) are not the plugin's."""
    assert oss_credentials.security_token  # the conftest server's STS token, not a plain pair
    assert oss_credentials.bucket == oss_bucket != bucket
    c = oss_credentials
    auth = oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token, auth_version="v4")
    b = oss2.Bucket(auth, c.endpoint, oss_bucket, region=c.region)
    key = f"k-{uuid.uuid4().hex}"
    b.put_object(key, b"through the plugin's fixtures")
    assert (
        oss2.Bucket(auth, oss_server.endpoint, oss_bucket, region=c.region).get_object(key).read()
        == b"through the plugin's fixtures"
    )


def test_the_readme_boto3_example_passes(pytester: pytest.Pytester) -> None:
    """The README's boto3 example, taken from the README itself, against the plugin's server
    (the S3 dialect on the same fixtures)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("def test_roundtrip_s3(")
    block = readme[
        readme.rindex("```python", 0, start) + len("```python") : readme.index("```", start)
    ]
    pytester.makepyfile(test_s3=block)
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=1)
