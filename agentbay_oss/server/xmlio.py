"""Server-side XML: build OSS response bodies, parse the few request bodies (sans-I/O).

Bodies are built by string joining (a 1,000-key listing costs microseconds) with
escaping; request bodies are parsed with ElementTree after refusing DTDs, so no
entity tricks reach the parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote
from xml.sax.saxutils import escape

from .errors import OssError, invalid_argument, malformed_xml

XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry at all (not even as &#...;), e.g. a key "%00" echoed back.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MAX_PARTS = 10_000
MAX_DELETE_KEYS = 1000


def iso8601(ts: float) -> str:
    """`2026-11-23T20:01:09.000Z`: OSS writes whole seconds, and oss2 only parses `.000Z`."""
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def enc(value: str, url: bool) -> str:
    """A key or prefix as it goes into XML: URL-encoded under encoding-type=url."""
    return quote(value, safe="/") if url else value


def el(name: str, value: object) -> str:
    text = escape(str(value))
    if _NOT_XML.search(text):
        text = _NOT_XML.sub("\ufffd", text)  # a well-formed reply beats a faithful one
    return f"<{name}>{text}</{name}>"


def document(root: str, children: Iterable[str]) -> bytes:
    return (XML_HEADER + f"<{root}>" + "".join(children) + f"</{root}>").encode()


def error_body(err: OssError, request_id: str, host: str) -> bytes:
    parts = [el("Code", err.code), el("Message", err.message), el("RequestId", request_id)]
    parts.append(el("HostId", host))
    parts += [el(k, v) for k, v in err.extra.items()]
    parts.append(el("EC", err.ec))
    return document("Error", parts)


def owner_xml(owner: str) -> str:
    return f"<Owner>{el('ID', owner)}{el('DisplayName', owner)}</Owner>"


# ---------------------------------------------------------------------------- request bodies


def _parse(body: bytes) -> ET.Element:
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise malformed_xml("DTDs and entities are not accepted")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise malformed_xml(str(exc)) from None


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


def list_section(tag: str, items: Sequence[str]) -> str:
    return "".join(f"<{tag}>{item}</{tag}>" for item in items)
