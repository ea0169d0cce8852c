"""The one parser registry: kinds by name, file, content type and HL7 v2 message type."""
from __future__ import annotations

from pathlib import Path

import pytest

from connectors import parsers
from connectors.common import Parsed, Refused
from connectors.edge import intake
from tests.unit.connectors.cad_gen import rows, to_csv, to_jsonl
from tests.unit.connectors.hl7_gen import adt, oru
from tests.unit.connectors.helpers import make_ctx


@pytest.mark.parametrize("name,head,kind", [
    ("run.xml", b"<EMSDataSet>", "nemsis"), ("export", b"  <?xml version='1.0'?>", "nemsis"),
    ("msg.hl7", b"", "hl7"), ("feed.txt", b"MSH|^~\\&|", "hl7"), ("incident.json", b'{"$id": 1}', "eido"),
    ("incidents.csv", b"incident_id,", "cad"), ("incidents.jsonl", b'{"incident_id": 1}', "cad"),
])
def test_a_file_is_recognised_by_its_name_and_first_bytes(name, head, kind):
    assert parsers.for_file(Path(name), head).name == kind


def test_the_registered_parser_reads_what_its_kind_names():
    ctx = make_ctx()
    hl7 = parsers.for_message_type("ORU", "R01")
    assert hl7 is parsers.kind("hl7") and parsers.for_message_type("ADT", "A01") is None
    assert all(isinstance(x, Parsed) for x in hl7.parse(oru(3), ctx))
    assert parsers.for_message_type("ADT", "A08") is hl7 and hl7.parse(adt(4, "A08"), ctx)
    cad = parsers.kind("cad")
    assert len([x for x in cad.parse(to_csv(rows(3)), ctx, "text/csv") if isinstance(x, Parsed)]) == 3
    assert len([x for x in cad.parse(to_jsonl(rows(2)), ctx, "application/x-ndjson") if isinstance(x, Parsed)]) == 2


@pytest.mark.parametrize("name", sorted(parsers.KINDS))
def test_every_kind_refuses_garbage_with_a_reason_and_never_raises(name):
    results = parsers.kind(name).parse(b"\x00\x01 not a document", make_ctx(), "application/json")
    assert results and all(isinstance(x, Refused) and x.reason for x in results)


def test_http_intake_posts_only_registered_kinds_and_unknown_names_are_refused():
    assert set(intake.PATHS) <= set(parsers.KINDS)
    assert all(parsers.kind(k).content_types for k in intake.PATHS)
    with pytest.raises(KeyError, match="unknown document kind 'pdf'"):
        parsers.kind("pdf")
