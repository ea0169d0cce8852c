"""The campaign's inputs as their senders write them (tests/chaos/wire.py): every run of the sample,
written as NEMSIS XML and as an HL7 ORU^R01 and read back by the edges' parsers, is detected exactly
as the run it was written from (same outcome and categories), with the same person. So the runs
the campaign sends through the sockets carry the expectations of the runs it generated."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.common import ParseContext, Parsed
from connectors.hl7v2.parse import parse_hl7
from connectors.nemsis.parse import parse_emsdataset
from pipeline import detect
from tests.chaos import wire
from tests.chaos.sample import campaign_runs

CTX = ParseContext(received_at=datetime.now(timezone.utc), sender="ems", programme_id="demo",
                   dispatch_centre_for=lambda agency: "psap-east")


RULES = detect.load_rules()


def verdict(run):
    found = detect.classify_run(run, RULES)
    return sorted(str(c) for c in found.categories), found.patient_contact, found.patient_died


@pytest.fixture(scope="module")
def runs():
    return campaign_runs(300, seed=28)


def test_nemsis_written_runs_are_read_back_and_detected_alike(runs):
    parsed = parse_emsdataset(wire.nemsis(runs), CTX)
    assert all(isinstance(p, Parsed) for p in parsed), [p for p in parsed if not isinstance(p, Parsed)][:3]
    back = {p.record.envelope.source_record_id: p.record for p in parsed}
    assert len(back) == len(runs)
    for run in runs:
        got = back[wire.nemsis_id(run)]
        assert (got.patient.family, got.patient.given, got.patient.birth_date) == \
               (run.patient.family, run.patient.given, run.patient.birth_date)
        assert got.key.incident_number == run.key.incident_number
        assert verdict(got) == verdict(run), run.pcr_number


def test_hl7_written_runs_are_read_back_and_detected_alike(runs):
    for i, run in enumerate(runs):
        [parsed] = parse_hl7(wire.oru(run, f"C{i:08d}"), CTX)
        assert isinstance(parsed, Parsed), parsed
        got = parsed.record
        assert got.envelope.source_record_id == run.pcr_number
        assert (got.patient.family, got.patient.birth_date) == (run.patient.family, run.patient.birth_date)
        assert verdict(got) == verdict(run), run.pcr_number
