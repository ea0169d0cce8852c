"""CAD CSV / JSON-lines exports: default and custom mappings, BOM, quoted newlines, formulas, versions."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from connectors.cad import mapping_from, parse_cad_export
from connectors.common import Parsed, Refused
from tests.unit.connectors import cad_gen
from tests.unit.connectors.helpers import records, refusals

EDT = timezone(timedelta(hours=-4))


def test_generated_csv_with_bom_and_quoted_newlines(ctx):
    items = cad_gen.rows(50)
    results = parse_cad_export(cad_gen.to_csv(items), ctx)
    parsed = records(results)
    assert len(parsed) == 50 and not refusals(results)
    for item, incident in zip(items, parsed):
        assert incident.key.incident_number == item["Incident Number"]
        assert incident.key.dispatch_centre == "psap-cad"
        assert incident.received_at == datetime.fromisoformat(item["Received At"])
        assert incident.call_type == item["Call Type"] and incident.priority == int(item["Priority"])
        assert incident.narrative == item["Narrative"]  # multi-line notes survive quoting
        assert incident.units == item["Units"].split(";")
        assert incident.location.latitude == float(item["Latitude"])
        assert incident.envelope.source_system == "cad-csv:cad"


def test_csv_and_jsonl_of_the_same_rows_are_the_same_events(ctx):
    items = cad_gen.rows(10, seed=11)
    from_csv = [r.envelope.event_id for r in records(parse_cad_export(cad_gen.to_csv(items, bom=False), ctx))]
    from_jsonl = [r.envelope.event_id for r in records(parse_cad_export(cad_gen.to_jsonl(items), ctx))]
    assert from_csv == from_jsonl and len(set(from_csv)) == 10


def test_formula_looking_cells_are_kept_as_text(ctx):
    cells = ["=HYPERLINK(\"http://x.invalid\",\"x\")", "+1+2", "-3+4", "@SUM(A1:A2)"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["incident_id", "received_at", "narrative", "call_type"])
    writer.writerows([f"F-{i}", "2024-10-07T20:20:00-04:00", c, c] for i, c in enumerate(cells))
    parsed = records(parse_cad_export(buffer.getvalue().encode(), ctx))
    assert [p.narrative for p in parsed] == cells
    assert [p.call_type for p in parsed] == cells


def test_repeated_incident_rows_are_versions_and_repeats_dedupe(ctx):
    data = ("incident_id,received_at,updated_at,call_type,status\r\n"
            "24-1,2024-10-07T20:20:00-04:00,2024-10-07T20:21:00-04:00,OD,created\r\n"
            "24-1,2024-10-07T20:20:00-04:00,2024-10-07T20:45:00-04:00,OD,closed\r\n"
            "24-1,2024-10-07T20:20:00-04:00,2024-10-07T20:45:00-04:00,OD,closed\r\n").encode()
    first, closed, repeat = records(parse_cad_export(data, ctx))
    assert closed.envelope.source_record_version - first.envelope.source_record_version == 24 * 60
    assert closed.envelope.event_id != first.envelope.event_id
    assert repeat.envelope.event_id == closed.envelope.event_id


def test_custom_mapping_with_timezone_and_centre(ctx):
    mapping = mapping_from({"name": "north", "dispatch_centre": "psap-north", "timezone": "America/New_York",
                            "list_separator": "|", "columns": {"incident_id": ["Event #"], "received_at": ["Call Time"],
                                                               "units": ["Units"], "call_type": ["Nature"]}})
    data = b"Event #,Call Time,Units,Nature,Ignored\r\nE-9,10/07/2024 08:20:00 PM,M1|E2,EDP,zzz\r\n"
    (incident,) = records(parse_cad_export(data, ctx, mapping))
    assert incident.key.dispatch_centre == "psap-north" and incident.envelope.source_system == "cad-csv:north"
    assert incident.received_at == datetime(2024, 10, 7, 20, 20, tzinfo=EDT)
    assert incident.received_at.utcoffset() == timedelta(hours=-4)
    assert (incident.units, incident.call_type) == (["M1", "E2"], "EDP")


def test_bad_rows_are_refused_one_by_one(ctx):
    data = ("incident_id,received_at,latitude\r\n"
            "A-1,2024-10-07T20:20:00-04:00,41.1\r\n"
            ",2024-10-07T20:20:00-04:00,41.1\r\n"
            "A-3,2024-10-07 20:20:00,41.1\r\n"
            "A-4,yesterday,41.1\r\n"
            "A-5,2024-10-07T20:20:00Z,999\r\n"
            ",,\r\n").encode()
    results = parse_cad_export(data, ctx)
    assert [type(r) for r in results] == [Parsed, Refused, Refused, Refused, Parsed]
    assert [r.reason for r in refusals(results)] == [
        "row 2 (line 3): no incident id",
        "row 3 (line 4): received_at has no UTC offset and the mapping names no time zone",
        "row 4 (line 5): received_at is not a date-time this mapping reads",
    ]
    assert records(results)[1].location is None  # the latitude is out of range, dropped


@pytest.mark.parametrize("data, reason", [
    (b"", "CAD export is empty"),
    (b"a,b\r\n1,2\r\n", "CAD export has no incident id column"),
    (b"incident_id\r\n\xff\r\n", "CAD export is not UTF-8 (byte 13)"),
    (b"incident_id\r\n", "CAD export has no rows"),
])
def test_unreadable_exports(data, reason, ctx):
    (refused,) = parse_cad_export(data, ctx)
    assert refused.reason == reason and refused.record_id is None


def test_malformed_csv_keeps_earlier_rows(ctx):
    data = b'incident_id,narrative\r\nA-1,ok\r\nA-2,"' + b"x" * 200_000 + b'"\r\n'
    results = parse_cad_export(data, ctx)
    assert [type(r) for r in results] == [Parsed, Refused]
    assert results[1].reason.startswith("CAD export is malformed CSV at line")


def test_jsonl_bad_line_is_refused_alone(ctx):
    data = b'{"incident_id": "J-1", "units": ["M1", "E2"], "priority": 3}\nnot json\n{"incident_id": "J-3"}\n'
    results = parse_cad_export(data, ctx)
    assert [type(r) for r in results] == [Parsed, Refused, Parsed]
    assert results[1].reason == "line 2 is not a JSON object"
    assert (records(results)[0].units, records(results)[0].priority) == (["M1", "E2"], 3)


def test_mapping_errors_fail_fast():
    with pytest.raises(ValueError, match="unknown fields"):
        mapping_from({"columns": {"incident_id": ["id"], "shoe_size": ["s"]}})
    with pytest.raises(ValueError, match="unknown time zone"):
        mapping_from({"timezone": "Mars/Olympus", "columns": {"incident_id": ["id"]}})


DETERMINANT_ROWS = ("incident_id,received_at,call_type,initial_type,determinant\r\n"
                    "D-1,2024-10-07T20:20:00-04:00,23-C-1,,\r\n"
                    "D-2,2024-10-07T20:20:00-04:00,25D01,,\r\n"
                    "D-3,2024-10-07T20:20:00-04:00,OD,,23-C-5\r\n"
                    "D-4,2024-10-07T20:20:00-04:00,EDP,,\r\n"
                    "D-5,2024-10-07T20:20:00-04:00,MEDICAL,17-B-1J,\r\n")


def _determinant_mapping(**extra):
    return mapping_from({"name": "emd-cad", "columns": {"incident_id": ["incident_id"], "received_at": ["received_at"],
                         "call_type": ["call_type"], "call_type_internal": ["initial_type"],
                         "mpds_determinant": ["determinant"]}, **extra})


def test_call_type_shaped_like_a_determinant_is_read_as_one(ctx):
    parsed = records(parse_cad_export(DETERMINANT_ROWS.encode(), ctx, _determinant_mapping()))
    assert [p.mpds_determinant for p in parsed] == ["23-C-1", "25D01", "23-C-5", "", "17-B-1J"]
    assert [p.call_type for p in parsed] == ["23-C-1", "25D01", "OD", "EDP", "MEDICAL"]  # the CAD's text is kept


def test_mapping_switch_turns_determinant_reading_off(ctx):
    parsed = records(parse_cad_export(DETERMINANT_ROWS.encode(), ctx,
                                      _determinant_mapping(call_type_determinants="never")))
    assert [p.mpds_determinant for p in parsed] == ["", "", "23-C-5", "", ""]


def test_mapping_switch_value_is_checked():
    with pytest.raises(ValueError, match="call_type_determinants"):
        _determinant_mapping(call_type_determinants="sometimes")
