"""Client side OSS XML: parse replies and errors, build CompleteMultipartUpload. Sans-I/O.

Parsers raise `ProtocolError` on anything that is not the expected document (HTML error
pages from proxies, truncated bodies), so a garbage answer becomes a clear message.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import unquote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from ..errors import ProtocolError


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str
    request_id: str = ""
    host_id: str = ""
    ec: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)  # not frozen: a listing makes one per object, frozen costs 4x
class ListEntry:
    key: str
    size: int
    etag: str
    last_modified: datetime | None


@dataclass(frozen=True)
class ListPage:
    entries: list[ListEntry]
    common_prefixes: list[str]
    is_truncated: bool
    next_token: str  # NextContinuationToken (V2) or NextMarker (V1)


@dataclass(frozen=True)
class BucketEntry:
    name: str
    region: str
    created: datetime | None


@dataclass(frozen=True)
class BucketPage:
    buckets: list[BucketEntry]
    is_truncated: bool
    next_marker: str


@dataclass(frozen=True)
class UploadEntry:
    """An unfinished multipart upload (ListMultipartUploads)."""

    key: str
    upload_id: str


@dataclass(frozen=True)
class UploadsPage:
    uploads: list[UploadEntry]
    is_truncated: bool
    next_key_marker: str
    next_upload_id_marker: str


@dataclass(frozen=True)
class PartInfo:
    number: int
    etag: str
    size: int
    crc64: int | None


@dataclass(frozen=True)
class ListPartsPage:
    parts: list[PartInfo]
    is_truncated: bool
    next_marker: int


def _root(body: bytes, expected: str) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        snippet = body[:80].decode("utf-8", "replace").replace("\n", " ")
        raise ProtocolError(
            f"the server answered something that is not XML where <{expected}> was expected "
            f"({exc}; body starts {snippet!r})",
            hint="check that the endpoint is an OSS service and not a proxy or web page",
        ) from None
    tag = root.tag.rsplit("}", 1)[-1]  # tolerate an xmlns some proxies add
    if tag != expected:
        raise ProtocolError(f"expected an XML <{expected}> reply, got <{tag}>")
    return root


def _text(el: ET.Element, name: str, default: str = "") -> str:
    child = el.find(name)
    if child is None:
        # With a namespace the tag is "{ns}name"; look it up without it.
        for c in el:
            if c.tag.rsplit("}", 1)[-1] == name:
                child = c
                break
    if child is None or child.text is None:
        return default
    return child.text


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if c.tag.rsplit("}", 1)[-1] == name]


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"the server sent a non-numeric {what}: {text[:40]!r}") from None


def _bool(text: str) -> bool:
    return text.strip().lower() == "true"


def parse_error(body: bytes) -> ErrorInfo | None:
    """The `<Error>` document, or None if the body is not one (empty, HTML, garbage)."""
    if not body or not body.lstrip().startswith(b"<"):
        return None
    try:
        root = _root(body, "Error")
    except ProtocolError:
        return None
    known = {"Code", "Message", "RequestId", "HostId", "EC"}
    extra = {
        c.tag: c.text or ""
        for c in root
        if c.tag not in known and c.tag in ("StringToSign", "OSSAccessKeyId", "Header")
    }
    return ErrorInfo(
        code=_text(root, "Code"),
        message=_text(root, "Message"),
        request_id=_text(root, "RequestId"),
        host_id=_text(root, "HostId"),
        ec=_text(root, "EC"),
        extra=extra,
    )


def parse_error_header(value: str) -> ErrorInfo | None:
    """HEAD responses carry the error document base64-encoded in `x-oss-err`."""
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None
    return parse_error(raw)


def parse_initiate_multipart(body: bytes) -> str:
    """The UploadId of an InitiateMultipartUploadResult."""
    upload_id = _text(_root(body, "InitiateMultipartUploadResult"), "UploadId")
    if not upload_id:
        raise ProtocolError("InitiateMultipartUpload reply has no UploadId")
    return upload_id


def build_complete_multipart(parts: Iterable[tuple[int, str]]) -> bytes:
    """CompleteMultipartUpload body from (part number, etag) pairs, sorted by number."""
    items = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
        for n, etag in sorted(parts)
    )
    return f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()


def parse_complete_multipart(body: bytes) -> str:
    """The ETag of a CompleteMultipartUploadResult ("" when the body is empty)."""
    if not body.strip():
        return ""
    return _text(_root(body, "CompleteMultipartUploadResult"), "ETag")


def parse_copy_result(body: bytes) -> str:
    """The ETag of a CopyObjectResult or CopyPartResult ("" when the body is empty)."""
    if not body.strip():
        return ""
    root = _root(body, "CopyPartResult" if b"<CopyPartResult" in body else "CopyObjectResult")
    return _text(root, "ETag")


def parse_location(body: bytes) -> str:
    """The region of a GetBucketLocation answer: `oss-cn-hangzhou` -> `cn-hangzhou`."""
    text = (_root(body, "LocationConstraint").text or "").strip()
    return text.removeprefix("oss-")


def build_delete_multiple(keys: Iterable[str], quiet: bool = True) -> bytes:
    """DeleteMultipleObjects body. Keys go as XML text (encoding-type=url shapes only the
    reply), control characters raw, as oss2 sends them and OSS takes them."""
    items = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    flag = "true" if quiet else "false"
    return f"<Delete><Quiet>{flag}</Quiet>{items}</Delete>".encode()


def parse_delete_multiple(body: bytes) -> list[str]:
    """Keys named in a DeleteResult (with quiet=true: the ones that failed)."""
    if not body.strip():
        return []
    root = _root(body, "DeleteResult")
    url = _text(root, "EncodingType") == "url"
    keys = [_text(d, "Key") for d in _children(root, "Deleted")]
    return [unquote(k) if url else k for k in keys]


@lru_cache(maxsize=4096)
def _parse_time(text: str) -> datetime | None:
    # fromisoformat is C and ~20x faster than strptime (one call per listed object); the
    # "Z" suffix is spelled out for Python 3.10, which does not read it. Cached: the objects
    # of a bulk upload share their Last-Modified second (OSS lists whole seconds).
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# One listed object as OSS (and the local server) write it: Key, LastModified, ETag, Type,
# Size, StorageClass, Owner, RestoreInfo, in that order, without whitespace between them.
_CONTENTS = re.compile(
    r"<Contents><Key>([^<]*)</Key><LastModified>([^<]*)</LastModified><ETag>([^<]*)</ETag>"
    r"(?:<Type>[^<]*</Type>)?<Size>([0-9]{1,20})</Size>(?:<StorageClass>[^<]*</StorageClass>)?"
    r"(?:<Owner>(?:<ID>[^<]*</ID>)?(?:<DisplayName>[^<]*</DisplayName>)?</Owner>)?"
    r"(?:<RestoreInfo>[^<]*</RestoreInfo>)?</Contents>"
)
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&apos;": "'"}
_ENTITY = re.compile("&[^;&]*;?")


class _Unusual(Exception):
    """The page is not in the usual shape: ElementTree reads it instead."""


def _entity(match: re.Match[str]) -> str:
    try:
        return _ENTITIES[match[0]]
    except KeyError:  # character references, unknown entities: ElementTree judges them
        raise _Unusual from None


def _xml_text(raw: str) -> str:
    return _ENTITY.sub(_entity, raw) if "&" in raw else raw


def parse_list_objects(body: bytes) -> ListPage:
    """A ListBucketResult page (V1 or V2), URL-decoding names when EncodingType is url.

    The objects of a page in the usual shape are read by one regular expression (a sync of
    millions of keys reads thousands of pages; ElementTree costs several times more), the
    rest of the document by ElementTree; a page in any other shape wholly by ElementTree."""
    try:
        return _parse_list_fast(body)
    except _Unusual:
        return _parse_list_tree(_root(body, "ListBucketResult"), [])


def _parse_list_fast(body: bytes) -> ListPage:
    try:
        doc = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unusual from None
    # CDATA, comments, processing instructions, a raw CR (XML reads it as LF): the tree.
    if "<!" in doc or "\r" in doc or doc.count("<?") > 1:
        raise _Unusual
    # One C pass: [between, key, modified, etag, size, between, key, ...].
    cut = _CONTENTS.split(doc)
    rest = "".join(cut[::5])
    if "<Contents" in rest:
        raise _Unusual  # an object in another shape
    root = _root(rest.encode(), "ListBucketResult")
    keys = [_xml_text(k) for k in cut[1::5]]
    if _text(root, "EncodingType").lower() == "url":
        keys = [unquote(k) for k in keys]
    entries = [
        ListEntry(key, int(size), _xml_text(etag), _parse_time(modified))
        for key, modified, etag, size in zip(keys, cut[2::5], cut[3::5], cut[4::5], strict=True)
    ]
    return _parse_list_tree(root, entries)


def _parse_list_tree(root: ET.Element, entries: list[ListEntry]) -> ListPage:
    """The page's fields from its tree; its objects too, unless `entries` holds them."""
    url = _text(root, "EncodingType").lower() == "url"

    def dec(s: str) -> str:
        return unquote(s) if url else s

    # One C findtext per field; the namespace, if a proxy added one, is the root's.
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    key, size, etag, modified = (ns + n for n in ("Key", "Size", "ETag", "LastModified"))
    entries += [
        ListEntry(
            key=dec(c.findtext(key) or ""),
            size=_int(c.findtext(size) or "0", "object size"),
            etag=c.findtext(etag) or "",
            last_modified=_parse_time(c.findtext(modified) or ""),
        )
        for c in root.iterfind(ns + "Contents")
    ]
    prefixes = [dec(_text(p, "Prefix")) for p in _children(root, "CommonPrefixes")]
    truncated = _bool(_text(root, "IsTruncated", "false"))
    token = _text(root, "NextContinuationToken") or _text(root, "NextMarker")
    token = dec(token)
    if truncated and not token:
        # V1 without NextMarker: continue after the last name, as the OSS docs say.
        names = [e.key for e in entries] + prefixes
        token = max(names) if names else ""
        if not token:
            raise ProtocolError("listing is truncated but gives no way to continue")
    return ListPage(entries, prefixes, truncated, token)


def parse_list_buckets(body: bytes) -> BucketPage:
    """A ListAllMyBucketsResult page (GetService)."""
    root = _root(body, "ListAllMyBucketsResult")
    holders = _children(root, "Buckets")
    buckets = [
        BucketEntry(
            name=_text(b, "Name"),
            region=_text(b, "Region") or _text(b, "Location"),
            created=_parse_time(_text(b, "CreationDate")),
        )
        for holder in holders
        for b in _children(holder, "Bucket")
    ]
    truncated = _bool(_text(root, "IsTruncated", "false"))
    marker = _text(root, "NextMarker")
    if truncated and not marker:
        marker = buckets[-1].name if buckets else ""
        if not marker:
            raise ProtocolError("the bucket list is truncated but gives no way to continue")
    return BucketPage(buckets, truncated, marker)


def parse_list_uploads(body: bytes) -> UploadsPage:
    """A ListMultipartUploadsResult page, URL-decoding keys when EncodingType is url."""
    root = _root(body, "ListMultipartUploadsResult")
    url = _text(root, "EncodingType").lower() == "url"

    def dec(s: str) -> str:
        return unquote(s) if url else s

    uploads = [
        UploadEntry(dec(_text(u, "Key")), _text(u, "UploadId")) for u in _children(root, "Upload")
    ]
    truncated = _bool(_text(root, "IsTruncated", "false"))
    key_marker = dec(_text(root, "NextKeyMarker"))
    id_marker = _text(root, "NextUploadIdMarker")
    if truncated and not key_marker:
        raise ProtocolError("the upload list is truncated but gives no way to continue")
    return UploadsPage(uploads, truncated, key_marker, id_marker)


def parse_list_parts(body: bytes) -> ListPartsPage:
    root = _root(body, "ListPartsResult")
    parts = []
    for p in _children(root, "Part"):
        crc = _text(p, "HashCrc64ecma")
        parts.append(
            PartInfo(
                number=_int(_text(p, "PartNumber"), "part number"),
                etag=_text(p, "ETag"),
                size=_int(_text(p, "Size", "0"), "part size"),
                crc64=_int(crc, "part CRC") if crc else None,
            )
        )
    truncated = _bool(_text(root, "IsTruncated", "false"))
    marker = _text(root, "NextPartNumberMarker", "0") or "0"
    return ListPartsPage(parts, truncated, _int(marker, "part marker"))
