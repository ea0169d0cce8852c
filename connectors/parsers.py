"""The one registry of inbound parsers: by kind, by file, by content type, by HL7 v2 message type.

Every edge that turns bytes into records asks here: file ingest (connectors/ingest.py), HTTP
intake (connectors/edge/intake.py), the MLLP listener (connectors/edge/mllp.py) and the
`classify` and `refer` commands. A parser is a pure function (connectors/common.py); it is
imported on first use, so `classify` needs neither a broker nor every connector's dependencies.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from connectors.common import ParseContext, ParseResult
from connectors.hl7v2.parse import ACCEPTED


@dataclass(frozen=True)
class Kind:
    """One kind of inbound document: where its records go and how to recognise it."""

    name: str
    topic: str                                 # the catalogue topic its records are published on
    parser: str                                # "module:function" (data, ctx[, content_type=])
    content_types: tuple[str, ...] = ()        # what HTTP intake accepts for it
    suffixes: tuple[str, ...] = ()             # file name endings that name it
    message_types: tuple[tuple[str, str], ...] = ()  # HL7 v2 (MSH-9.1, MSH-9.2) it reads
    takes_content_type: bool = False

    def parse(self, data: bytes, ctx: ParseContext, content_type: str = "") -> list[ParseResult]:
        module, _, name = self.parser.partition(":")
        fn: Callable = getattr(importlib.import_module(module), name)
        return fn(data, ctx, content_type=content_type) if self.takes_content_type else fn(data, ctx)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("nemsis", "ems.run", "connectors.nemsis:parse_emsdataset", ("application/xml", "text/xml"), (".xml",)),
    Kind("hl7", "ems.run", "connectors.hl7v2:parse_hl7", suffixes=(".hl7", ".er7"), message_types=tuple(sorted(ACCEPTED))),
    Kind("eido", "dispatch.incident", "connectors.cad:parse_eido", ("application/json",), (".json",)),
    Kind("cad", "dispatch.incident", "connectors.cad:parse_cad_export",
         ("text/csv", "application/x-ndjson", "application/jsonl"), (".csv", ".jsonl", ".ndjson")),
    Kind("field", "field.referral", "connectors.field:parse_field_referrals", ("application/json", "text/csv"),
         takes_content_type=True),
)}


def kind(name: str) -> Kind:
    """The kind of that name; a KeyError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown document kind {name!r} (known: {', '.join(KINDS)})") from None


def for_file(path: Path, head: bytes) -> Kind:
    """The kind of a source export from its name and first bytes (NEMSIS, HL7 v2, EIDO, else a CAD export)."""
    suffix = path.suffix.lower()
    start = head.lstrip()[:1]
    if suffix in KINDS["nemsis"].suffixes or start == b"<":
        return KINDS["nemsis"]
    if suffix in KINDS["hl7"].suffixes or head.lstrip().startswith(b"MSH"):
        return KINDS["hl7"]
    if suffix in KINDS["eido"].suffixes and start == b"{":
        return KINDS["eido"]
    return KINDS["cad"]


def for_message_type(message_type: str, trigger: str) -> Kind | None:
    """The kind that reads an HL7 v2 message of this type and trigger, or None."""
    return next((k for k in KINDS.values() if (message_type, trigger) in k.message_types), None)
