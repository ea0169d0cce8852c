"""One safe way to read untrusted XML (NEMSIS ePCRs, PIDF-LO locations inside EIDO).

Safe by construction, before and during parsing:
- size limit on the bytes (checked first);
- UTF-8 (or its ASCII subset) only: a UTF-16/32 document or another declared encoding is
  refused, so the markup checks below see the real characters;
- any `<!DOCTYPE` or `<!ENTITY` is refused before the parser runs (no DTD, no internal
  subset, so no XXE and no entity expansion bomb);
- the parser itself neither loads DTDs, resolves entities, touches the network nor
  accepts huge trees (libxml2's own limits stay on);
- a depth limit on the parsed tree.
Every failure is an `UnsafeXml` with one reason sentence and no payload text.
"""
from __future__ import annotations

import re
import threading

from lxml import etree

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_DEPTH = 48

_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_OK_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}
_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")


class UnsafeXml(ValueError):
    """A document refused before or while parsing; `line` is set when the parser knows it."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True, collect_ids=False)


_LOCAL = threading.local()  # an lxml parser must not be shared between threads


def _thread_parser() -> etree.XMLParser:
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = _parser()
    return parser


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
              max_depth: int = DEFAULT_MAX_DEPTH) -> etree._Element:
    """The root element of a safe document, or UnsafeXml."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"document is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data.strip():
        raise UnsafeXml("document is empty")
    if data.startswith(_BOMS) or b"\x00" in data[:4]:
        raise UnsafeXml("document is not UTF-8 (UTF-16/32 is not accepted)")
    declared = _ENCODING.match(data.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).lower() not in _OK_ENCODINGS:
        raise UnsafeXml("document declares an encoding other than UTF-8")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXml("document has a DOCTYPE or ENTITY declaration, which is not accepted")
    try:
        root = etree.fromstring(data, parser=_thread_parser())
    except etree.XMLSyntaxError as error:
        line = error.lineno if isinstance(error.lineno, int) and error.lineno > 0 else None
        where = f" at line {line}" if line else ""
        raise UnsafeXml(f"document is not well-formed XML{where}", line) from None
    if root is None:
        raise UnsafeXml("document has no root element")
    if root.xpath("boolean(/" + "*/" * max_depth + "*)"):
        raise UnsafeXml(f"document nests deeper than {max_depth} elements")
    return root


def local(tag: object) -> str:
    """An element's tag without its namespace ('' for comments and other non-elements)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]
