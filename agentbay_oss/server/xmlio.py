"""Server-side XML: the builders of OSS response bodies, and the parsers of the few request
bodies (sans-I/O). Handlers compose answers from these builders, never from raw strings.

Bodies are built by string joining (a 1,000-key listing costs microseconds) with
escaping; request bodies are parsed with ElementTree after refusing DTDs, so no
entity tricks reach the parser. The client's parser (`agentbay_oss.protocol.xml`)
reads what these build.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import quote
from xml.sax.saxutils import escape

from .errors import OssError, invalid_argument, malformed_xml
from .storage import ListedObject, PartRecord, UploadRecord

XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry at all (not even as &#...;), e.g. a key "%00" echoed back.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MAX_PARTS = 10_000
MAX_DELETE_KEYS = 1000
OWNER = "local-oss-owner"  # the one owner of every bucket and object


def iso8601(ts: float) -> str:
    """`2026-11-23T20:01:09.000Z`: OSS writes whole seconds, and oss2 only parses `.000Z`."""
    return _iso_second(int(ts))


@lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    # Cached: the objects of a listing mostly share a few seconds (written in bulk).
    return datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# What quote(safe="/") leaves as it is: such a key is its own URL encoding.
_URL_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")


def enc(value: str, url: bool) -> str:
    """A key or prefix as it goes into XML: URL-encoded under encoding-type=url."""
    if not url or _URL_PLAIN.fullmatch(value):
        return value
    return quote(value, safe="/")


# Anything `text` changes: markup characters, and characters XML cannot carry.
_NOT_PLAIN = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text(value: str) -> str:
    """A value escaped for XML text, characters XML cannot carry replaced."""
    if not _NOT_PLAIN.search(value):  # most values: nothing to do, no copy
        return value
    escaped = escape(value)
    if _NOT_XML.search(escaped):
        escaped = _NOT_XML.sub("\ufffd", escaped)  # a well-formed reply beats a faithful one
    return escaped


def el(name: str, value: object) -> str:
    """`<name>value</name>`, the value escaped (characters XML cannot carry replaced)."""
    return f"<{name}>{text(str(value))}</{name}>"


def node(name: str, *children: str) -> str:
    """`<name>children</name>`, the children already built."""
    return f"<{name}>{''.join(children)}</{name}>"


def flag(value: bool) -> str:
    return "true" if value else "false"


def quoted(etag: str) -> str:
    """An ETag as OSS writes it, in headers and XML alike."""
    return f'"{etag}"'


def document(root: str, children: Iterable[str]) -> bytes:
    return (XML_HEADER + f"<{root}>" + "".join(children) + f"</{root}>").encode()


_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def error_body(err: OssError, request_id: str, host: str) -> bytes:
    parts = [el("Code", err.code), el("Message", err.message), el("RequestId", request_id)]
    parts.append(el("HostId", host))
    # Extra fields echo request input (a key): characters XML 1.0 cannot carry become U+FFFD,
    # or the client could not parse the error at all.
    parts += [el(k, _XML_UNSAFE.sub("\ufffd", v)) for k, v in err.extra.items()]
    parts.append(el("EC", err.ec))
    return document("Error", parts)


# ---------------------------------------------------------------------------- answer fragments


def owner_xml(owner: str = OWNER) -> str:
    return node("Owner", el("ID", owner), el("DisplayName", owner))


def acl_xml(grant: str) -> str:
    return node("AccessControlList", el("Grant", grant))


def bucket_fields(name: str, created: float, host: str, region: str) -> list[str]:
    """What ListBuckets and GetBucketInfo both say about a bucket."""
    return [
        el("CreationDate", iso8601(created)), el("ExtranetEndpoint", host),
        el("IntranetEndpoint", host), el("Location", f"oss-{region}"), el("Name", name),
        el("Region", region), el("StorageClass", "Standard"),
    ]  # fmt: skip


_OWNER_XML = owner_xml()


def contents_xml(obj: ListedObject, url: bool, owner: bool) -> str:
    """One object of a listing: one f-string, escaping only what needs it (a listing of a
    big bucket builds millions)."""
    key, etag, otype, storage_class = enc(obj.key, url), obj.etag, obj.otype, obj.storage_class
    if _NOT_PLAIN.search(f"{key}{etag}{otype}{storage_class}"):  # one search, not four
        key, etag, otype, storage_class = text(key), text(etag), text(otype), text(storage_class)
    return (
        f"<Contents><Key>{key}</Key>"
        f"<LastModified>{_iso_second(int(obj.mtime))}</LastModified>"
        f'<ETag>"{etag}"</ETag><Type>{otype}</Type>'
        f"<Size>{obj.size}</Size><StorageClass>{storage_class}</StorageClass>"
        f"{_OWNER_XML if owner else ''}</Contents>"
    )


def common_prefix_xml(prefix: str, url: bool) -> str:
    return node("CommonPrefixes", el("Prefix", enc(prefix, url)))


def upload_xml(up: UploadRecord, url: bool) -> str:
    """One in-progress multipart upload of a ListMultipartUploads answer."""
    return node(
        "Upload", el("Key", enc(up.key, url)), el("UploadId", up.upload_id),
        el("StorageClass", "Standard"), el("Initiated", iso8601(up.initiated)),
    )  # fmt: skip


def tagging_document(tags: list[tuple[str, str]]) -> bytes:
    """A GetObjectTagging answer."""
    items = [node("Tag", el("Key", k), el("Value", v)) for k, v in tags]
    return document("Tagging", [node("TagSet", *items)])


def part_xml(p: PartRecord) -> str:
    """One part of a ListParts answer."""
    return node(
        "Part", el("PartNumber", p.number), el("LastModified", iso8601(p.mtime)),
        el("ETag", quoted(p.etag)), el("HashCrc64ecma", p.crc), el("Size", p.size),
    )  # fmt: skip


# ---------------------------------------------------------------------------- request bodies


# C0 control characters XML 1.0 forbids, plus CR (which a parser turns into LF). oss2 writes
# keys into request XML raw, control characters and all; alibabacloud-oss-v2 writes them as
# character references (`&#12;`), which XML 1.0 forbids too. OSS accepts both: a key that
# PutObject took must stay batch-deletable.
_CONTROL_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A))
_CHAR_REF = re.compile(rb"&#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}));")


def _hide_controls(body: bytes) -> tuple[bytes, dict[int, int]]:
    """Swap control characters (raw or referenced) for private-use characters absent from the
    body, so the stdlib parser accepts it; returns the table that swaps them back."""
    if b"&#" not in body and not any(b in body for b in _CONTROL_BYTES):
        return body, {}
    bases = range(0xE000, 0xF8FF - 0x20, 0x20)  # the Private Use Area, 32 at a time
    base = next(
        (b for b in bases if all(chr(b + c).encode() not in body for c in _CONTROL_BYTES)), None
    )
    if base is None:
        return body, {}  # every stand-in taken (absurd): parse as sent, strictly
    stand_in = {c: chr(base + c).encode() for c in _CONTROL_BYTES}

    def swap(match: re.Match[bytes]) -> bytes:
        hexa, dec = match.groups()
        return stand_in.get(int(hexa, 16) if hexa else int(dec), match[0])

    hidden = _CHAR_REF.sub(swap, body)
    for c, s in stand_in.items():
        hidden = hidden.replace(bytes([c]), s)
    return hidden, {base + c: c for c in _CONTROL_BYTES}


_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _parse(body: bytes) -> ET.Element:
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise malformed_xml("DTDs and entities are not accepted")
    hidden, restore = _hide_controls(body)
    try:
        root = ET.fromstring(hidden)
    except ET.ParseError as exc:
        raise malformed_xml(str(exc)) from None
    if restore:
        for node in root.iter():
            node.text = node.text.translate(restore) if node.text else node.text
    if root.tag.startswith(_S3_NS):  # S3 clients (the S3 dialect) qualify their documents
        for node in root.iter():
            node.tag = node.tag.removeprefix(_S3_NS)
    return root


def _text(node: ET.Element, tag: str) -> str | None:
    child = node.find(tag)
    return None if child is None else (child.text or "")


@dataclass(frozen=True)
class CompletePart:
    number: int
    etag: str


def parse_complete(body: bytes) -> list[CompletePart]:
    """Parts of a CompleteMultipartUpload body, in the order given (order checked later)."""
    root = _parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise malformed_xml("root element must be CompleteMultipartUpload")
    nodes = root.findall("Part")
    if not nodes:
        raise malformed_xml("no Part element")
    if len(nodes) > MAX_PARTS:
        raise invalid_argument(
            f"A CompleteMultipartUpload lists at most {MAX_PARTS} parts; got {len(nodes)}."
        )
    parts: list[CompletePart] = []
    for node in nodes:
        number, etag = _text(node, "PartNumber"), _text(node, "ETag")
        if number is None or etag is None:
            raise malformed_xml("each Part needs PartNumber and ETag")
        try:
            n = int(number.strip())
        except ValueError:
            raise malformed_xml(f"PartNumber {number[:20]!r} is not a number") from None
        if not 1 <= n <= MAX_PARTS:
            raise OssError(400, "InvalidPartOrder", f"Part number {n} is outside 1..{MAX_PARTS}.")
        parts.append(CompletePart(n, etag.strip()))
    return parts


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """(keys, quiet) of a DeleteMultipleObjects body.

    Keys arrive as plain XML text: encoding-type=url only shapes the response (oss2
    sends it and raw keys together).
    """
    root = _parse(body)
    if root.tag != "Delete":
        raise malformed_xml("root element must be Delete")
    quiet = (_text(root, "Quiet") or "false").strip().lower() == "true"
    keys: list[str] = []
    for node in root.findall("Object"):
        key = _text(node, "Key")
        if key is None:
            raise malformed_xml("each Object needs a Key")
        keys.append(key)
    if not keys:
        raise malformed_xml("no Object element")
    if len(keys) > MAX_DELETE_KEYS:
        raise malformed_xml(f"at most {MAX_DELETE_KEYS} objects per request")
    return keys, quiet


def parse_tagging(body: bytes) -> list[tuple[str, str]]:
    """The (key, value) pairs of a PutObjectTagging body, in order (checked later)."""
    root = _parse(body)
    if root.tag != "Tagging":
        raise malformed_xml("root element must be Tagging")
    tag_set = root.find("TagSet")
    if tag_set is None:
        raise malformed_xml("no TagSet element")
    tags: list[tuple[str, str]] = []
    for node_ in tag_set.findall("Tag"):
        key, value = _text(node_, "Key"), _text(node_, "Value")
        if key is None:
            raise malformed_xml("each Tag needs a Key")
        tags.append((key, value or ""))
    return tags
