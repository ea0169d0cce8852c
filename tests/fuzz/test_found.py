"""Inputs the atheris runs found (issue 28), kept as regressions: each was an exception outside the
project's rejection types before its fix."""
from __future__ import annotations

import io
import json
from datetime import date, datetime

import fastavro
import pytest

from pipeline.avro.codec import MAGIC, CodecError
from pipeline.consent.fhir import from_fhir
from pipeline.consent.registry import ConsentError
from pipeline.topics import Catalogue
from tests.data.hostile.generate import consent_doc
from tests.support.samples import samples


def _plain(value):
    """A model dump with its datetimes as the integers Avro carries (microseconds)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    return (value - date(1970, 1, 1)).days if isinstance(value, date) else value


def _strip_logical(schema):
    if isinstance(schema, dict):
        return {k: _strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical(s) for s in schema]
    return schema


def test_a_timestamp_out_of_range_is_a_codec_error_not_an_overflow():
    """fastavro raised OverflowError ('date value out of range'), which the codec did not catch."""
    topic = Catalogue(prefix="x", partitions=1)["ems.run"]
    codec = topic.value
    value = _plain(samples()[codec.model].model_dump())
    value["envelope"]["occurred_at"] = 2**62  # microseconds far past year 9999
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(_strip_logical(codec.schema), _write_hint=False), value)
    with pytest.raises(CodecError, match="corrupt"):
        codec.decode(MAGIC + codec.fingerprint + out.getvalue())


@pytest.mark.parametrize("change", [{"patient": []}, {"patient": {"identifier": "tok"}}, {"provision": ["permit"]},
                                    {"provision": {"actor": [1]}}, {"extension": [1]}, {"policyRule": "x"},
                                    {"sourceAttachment": "doc"}])
def test_a_consent_of_the_wrong_shape_is_a_consent_error(change):
    """from_fhir raised AttributeError / TypeError on elements of the wrong JSON type (HTTP 500)."""
    doc = consent_doc() | change
    with pytest.raises(ConsentError):
        from_fhir(json.loads(json.dumps(doc)))


def test_an_unterminated_quote_in_a_cad_export_is_refused_not_read_as_one_cell_to_the_end():
    """The hostile corpus's cad-ragged-4: csv's lenient mode read the rest of the file as one cell."""
    from connectors import parsers
    from connectors.common import Parsed, Refused
    from tests.data.hostile.generate import HEADER
    from tests.fuzz.targets import CTX

    doc = (HEADER + '\r\n"24-1,2024-10-07 20:20:00,OD\r\n24-2,2024-10-07 20:21:00,OD\r\n').encode()
    results = parsers.kind("cad").parse(doc, CTX, "text/csv")
    assert not any(isinstance(x, Parsed) for x in results)
    assert any(isinstance(x, Refused) and "malformed CSV" in x.reason for x in results)


def test_an_impossible_date_time_in_a_pcr_is_named_in_its_findings():
    from connectors import parsers
    from tests.data.hostile.generate import emsdataset, pcr
    from tests.fuzz.targets import CTX

    [parsed] = parsers.kind("nemsis").parse(emsdataset(pcr(when="2024-13-45T25:61:00-04:00")), CTX)
    assert parsed.record.findings == ["eTimes.01: not a valid date-time with an offset; ignored"]


@pytest.mark.parametrize("row", ["24-1,2024-10-07T20:20:00-04:00,OD,1 Main St, Apt 2,Springfield",
                                 "24-1,2024-10-07T20:20:00-04:00,OD"])
def test_a_ragged_cad_row_is_refused_not_read_with_shifted_columns(row):
    """The hostile corpus's cad-ragged-0/1: a row with more or fewer cells than the header was read
    with every later column in the wrong field (or empty)."""
    from connectors import parsers
    from connectors.common import Parsed
    from tests.fuzz.targets import CTX

    doc = f"Incident Number,Call Received,Call Type,Address,City\r\n{row}\r\n24-2,2024-10-07T20:21:00-04:00,OD,2 Elm St,Springfield\r\n"
    results = parsers.kind("cad").parse(doc.encode(), CTX, "text/csv")
    assert [x.record.key.incident_number for x in results if isinstance(x, Parsed)] == ["24-2"]
    assert "cells, the header 5" in results[0].reason


def test_an_hl7_time_with_an_offset_of_24_hours_or_more_is_unreadable_not_an_error():
    from connectors.hl7v2.parse import hl7_time
    from tests.fuzz.targets import TARGETS

    assert hl7_time("202410011200-2400") is None and hl7_time("202410011200+1275") is None
    assert hl7_time("202410011200-0500").utcoffset().total_seconds() == -5 * 3600
    message = (b"MSH|^~\\&|EPCR|13|HANDOFF|HANDOFF|20241001-2400||ORU^R01|A1|P|2.5.1\r"
               b"PID|1||P1||Doe^Jane\r"
               b"PV1|1|E|||||||||||||||||INC1\r")  # an incident number (PV1-19): the parser reads on to MSH-7
    TARGETS["hl7"](message)  # refused or parsed: a ValueError escaped the parser before (CI's atheris run)
