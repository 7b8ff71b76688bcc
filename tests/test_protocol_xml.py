from __future__ import annotations

import base64

import pytest

from agentbay_oss.errors import ProtocolError
from agentbay_oss.protocol import xml as oxml


def test_error_document() -> None:
    body = (
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
        b"<Message>The specified key does not exist.</Message><RequestId>R1</RequestId>"
        b"<HostId>h</HostId><EC>0026-00000001</EC></Error>"
    )
    info = oxml.parse_error(body)
    assert info is not None
    assert (info.code, info.request_id, info.ec) == ("NoSuchKey", "R1", "0026-00000001")
    assert oxml.parse_error_header(base64.b64encode(body).decode()) == info


@pytest.mark.parametrize("body", [b"", b"<html><body>502</body></html>", b"<Error", b"garbage"])
def test_error_garbage_is_none(body: bytes) -> None:
    assert oxml.parse_error(body) is None
    assert oxml.parse_error_header("!!!notbase64") is None


def test_initiate_and_complete() -> None:
    body = (
        b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
        b"<UploadId>U1</UploadId></InitiateMultipartUploadResult>"
    )
    assert oxml.parse_initiate_multipart(body) == "U1"
    with pytest.raises(ProtocolError, match="UploadId"):
        oxml.parse_initiate_multipart(b"<InitiateMultipartUploadResult/>")
    with pytest.raises(ProtocolError, match="not XML"):
        oxml.parse_initiate_multipart(b"<html>oops")
    with pytest.raises(ProtocolError, match="Error"):
        oxml.parse_initiate_multipart(b"<Error><Code>X</Code></Error>")
    built = oxml.build_complete_multipart([(2, '"B"'), (1, '"A&"')])
    assert built == (
        b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"A&amp;"</ETag></Part>'
        b'<Part><PartNumber>2</PartNumber><ETag>"B"</ETag></Part></CompleteMultipartUpload>'
    )
    assert oxml.parse_complete_multipart(b"") == ""
    assert (
        oxml.parse_complete_multipart(
            b"<CompleteMultipartUploadResult><ETag>&quot;E-2&quot;</ETag>"
            b"</CompleteMultipartUploadResult>"
        )
        == '"E-2"'
    )


def test_list_v2_url_encoded() -> None:
    body = (
        b"<ListBucketResult><Name>b</Name><Prefix>p%2F</Prefix><MaxKeys>2</MaxKeys>"
        b"<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        b"<NextContinuationToken>p%2Fb%20c</NextContinuationToken><KeyCount>2</KeyCount>"
        b"<Contents><Key>p%2Fa%20%E6%96%87</Key><LastModified>2026-11-23T20:01:09.000Z"
        b'</LastModified><ETag>"E"</ETag><Size>5</Size></Contents>'
        b"<CommonPrefixes><Prefix>p%2Fd%2F</Prefix></CommonPrefixes></ListBucketResult>"
    )
    page = oxml.parse_list_objects(body)
    assert [e.key for e in page.entries] == ["p/a 文"]
    assert page.entries[0].size == 5 and page.entries[0].etag == '"E"'
    assert page.entries[0].last_modified is not None
    assert page.entries[0].last_modified.year == 2026
    assert page.common_prefixes == ["p/d/"]
    assert page.is_truncated and page.next_token == "p/b c"


def test_list_v1_truncated_without_marker_continues_after_last() -> None:
    body = (
        b"<ListBucketResult><IsTruncated>true</IsTruncated>"
        b"<Contents><Key>a</Key><Size>1</Size></Contents>"
        b"<Contents><Key>b</Key><Size>1</Size></Contents></ListBucketResult>"
    )
    assert oxml.parse_list_objects(body).next_token == "b"
    with pytest.raises(ProtocolError):
        oxml.parse_list_objects(
            b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"
        )
    with pytest.raises(ProtocolError, match="non-numeric"):
        oxml.parse_list_objects(
            b"<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>"
        )


def test_list_with_namespace_tolerated() -> None:
    body = (
        b'<ListBucketResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com"><IsTruncated>false'
        b"</IsTruncated><Contents><Key>k</Key><Size>3</Size></Contents></ListBucketResult>"
    )
    page = oxml.parse_list_objects(body)
    assert [e.key for e in page.entries] == ["k"]


def test_list_parts() -> None:
    body = (
        b"<ListPartsResult><IsTruncated>false</IsTruncated><NextPartNumberMarker>2"
        b'</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>"A"</ETag>'
        b"<HashCrc64ecma>123</HashCrc64ecma><Size>10</Size></Part><Part><PartNumber>2"
        b'</PartNumber><ETag>"B"</ETag><Size>4</Size></Part></ListPartsResult>'
    )
    page = oxml.parse_list_parts(body)
    assert [(p.number, p.etag, p.size, p.crc64) for p in page.parts] == [
        (1, '"A"', 10, 123),
        (2, '"B"', 4, None),
    ]
    assert not page.is_truncated and page.next_marker == 2


def test_parse_list_uploads_pages_and_url_encoding() -> None:
    from agentbay_oss.protocol.xml import UploadEntry, parse_list_uploads

    body = (
        b"<ListMultipartUploadsResult><EncodingType>url</EncodingType>"
        b"<IsTruncated>true</IsTruncated><NextKeyMarker>d%2F%C3%A9%20t</NextKeyMarker>"
        b"<NextUploadIdMarker>id2</NextUploadIdMarker>"
        b"<Upload><Key>a</Key><UploadId>id1</UploadId></Upload>"
        b"<Upload><Key>d%2F%C3%A9%20t</Key><UploadId>id2</UploadId></Upload>"
        b"</ListMultipartUploadsResult>"
    )
    page = parse_list_uploads(body)
    assert page.uploads == [UploadEntry("a", "id1"), UploadEntry("d/\u00e9 t", "id2")]
    assert (page.is_truncated, page.next_key_marker, page.next_upload_id_marker) == (
        True,
        "d/\u00e9 t",
        "id2",
    )
    stuck = (
        b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>"
    )
    with pytest.raises(ProtocolError, match="no way to continue"):
        parse_list_uploads(stuck)


_ENTRY = (
    "<Contents><Key>{key}</Key><LastModified>2026-11-23T20:01:09.000Z</LastModified>"
    "<ETag>{etag}</ETag><Type>Normal</Type><Size>{size}</Size><StorageClass>Standard"
    "</StorageClass>{owner}</Contents>"
)
_OWNER = "<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner>"


def _page(entries: str, url: bool, tail: str = "") -> bytes:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>b</Name>'
    head += "<EncodingType>url</EncodingType>" if url else ""
    head += "<IsTruncated>true</IsTruncated><NextMarker>n%26m</NextMarker>"
    return (head + entries + tail + "</ListBucketResult>").encode()


@pytest.mark.parametrize("url", [False, True])
@pytest.mark.parametrize(
    "entries",
    [
        # The usual shape: read by the regular expression.
        _ENTRY.format(key="a%20b/c", etag='"E1"', size=1, owner="")
        + _ENTRY.format(key="x&amp;y&lt;z&gt;&quot;&apos;", etag="&quot;E2&quot;", size=20, owner=_OWNER),
        _ENTRY.format(key="%E6%96%87+%2B", etag='"E"', size=0, owner="")
        + "<CommonPrefixes><Prefix>p%2F</Prefix></CommonPrefixes>"
        + _ENTRY.format(key="z", etag='"E"', size=3, owner=""),
        # Other shapes: ElementTree reads the whole page, the answer is the same.
        _ENTRY.format(key="a&#65;&#x42;", etag='"E"', size=1, owner=""),
        _ENTRY.format(key="<![CDATA[c<d]]>", etag='"E"', size=1, owner=""),
        "<Contents>\n  <Key>pretty</Key>\n  <Size>7</Size>\n</Contents>",
        "<Contents><Size>7</Size><Key>reordered</Key><ETag>e</ETag></Contents>"
        + _ENTRY.format(key="after", etag='"E"', size=1, owner=""),
        _ENTRY.format(key="a", etag='"E"', size=1, owner="").replace("<Size>", "<Extra/><Size>"),
    ],
)  # fmt: skip
def test_list_fast_path_reads_what_the_tree_reads(entries: str, url: bool) -> None:
    body = _page(entries, url, "<CommonPrefixes><Prefix>q%2F</Prefix></CommonPrefixes>")
    tree = oxml._parse_list_tree(oxml._root(body, "ListBucketResult"), [])
    assert oxml.parse_list_objects(body) == tree
    assert len(tree.entries) == entries.count("<Contents>")


@pytest.mark.parametrize(
    "entries",
    [
        _ENTRY.format(key="a&bogus;", etag='"E"', size=1, owner=""),
        _ENTRY.format(key="a", etag='"E"', size=1, owner="").replace("</Contents>", ""),
        _ENTRY.format(key="a&#0;", etag='"E"', size=1, owner=""),
    ],
)
def test_list_fast_path_leaves_broken_pages_to_the_tree(entries: str) -> None:
    with pytest.raises(ProtocolError, match="not XML"):
        oxml.parse_list_objects(_page(entries, True))


def test_list_fast_path_takes_the_usual_shape() -> None:
    # What OSS and the local server send is read without building a tree of the objects.
    entries = _ENTRY.format(key="k&amp;1", etag="&quot;E&quot;", size=5, owner=_OWNER)
    page = oxml._parse_list_fast(_page(entries * 3, True))
    assert [(e.key, e.size, e.etag) for e in page.entries] == [("k&1", 5, '"E"')] * 3
    assert page.is_truncated and page.next_token == "n&m"
