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
