"""HL7 v2 inbound: ORU/ADT carrying an ePCR, strict refusals, and the ACK builder."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest

from connectors.common import Parsed, Refused
from connectors.hl7v2 import build_ack, parse_hl7, read_header
from pipeline.hl7v2 import read
from connectors.hl7v2.parse import hl7_time
from pipeline.records import Coded
from tests.unit.connectors import hl7_gen
from tests.unit.connectors.helpers import make_ctx, records

EDT = timezone(timedelta(hours=-4))


def _segments(data: bytes) -> list[str]:
    return data.decode().rstrip("\r").split("\r")


def test_oru_maps_to_an_ems_run(ctx):
    (run,) = records(parse_hl7(hl7_gen.oru(1, incident="24-46512"), ctx))
    assert (run.key.dispatch_centre, run.key.incident_number) == ("psap-EMS-012", "24-46512")
    assert (run.agency_id, run.pcr_number) == ("EMS-012", "PCR-000001")
    assert (run.type_of_service.code, run.dispatch_reason.code, run.emd_determinant) == ("2205001", "2301053", "23C5")
    assert run.times.psap_call == hl7_time(_segments(hl7_gen.oru(1))[7].split("|")[5])
    assert run.primary_impression.system == "http://hl7.org/fhir/sid/icd-10-cm"
    assert run.other_symptoms == [Coded(code="R06.89", system="http://hl7.org/fhir/sid/icd-10-cm", pn="8801031")]
    (med,) = run.medications
    assert (med.drug.code, med.drug.system, med.route, med.response) == (
        "7242", "http://www.nlm.nih.gov/research/umls/rxnorm", "9927017", "9916001")
    assert run.disposition.transport_disposition.code == "4230001"
    assert run.narrative == "Pt found unresponsive\nNarcan 4 mg IN by PD & crew, pt improved."
    pid = _segments(hl7_gen.oru(1))[1].split("|")
    family, given, middle = pid[5].split("^")
    assert (run.patient.family, run.patient.given, run.patient.middle) == (family, given, middle)
    assert run.patient.birth_date == datetime.strptime(pid[7], "%Y%m%d").date()
    assert run.patient.address.city == "Danbury" and run.patient.address.zip == "06810"
    assert run.envelope.source_system == "hl7v2:EPCR-APP"
    assert run.envelope.source_record_version == int(hl7_time(_segments(hl7_gen.oru(1))[0].split("|")[6]).timestamp())


@pytest.mark.parametrize("trigger", ["A04", "A08"])
def test_adt_maps_with_not_recorded(trigger, ctx):
    (run,) = records(parse_hl7(hl7_gen.adt(2, trigger), ctx))
    assert run.key.incident_number == "24-46519" and run.primary_impression.code == "T14.91"
    assert run.secondary_impressions == [Coded(nil="7701003")]
    assert run.patient.birth_date == date(1980, 1, 1) and run.patient.sex == "M"


def test_replay_gives_the_same_event_id_and_resend_of_changed_content_does_not(ctx):
    first = records(parse_hl7(hl7_gen.oru(3), ctx))[0].envelope
    again = records(parse_hl7(hl7_gen.oru(3), make_ctx(received_at=datetime(2026, 1, 1, tzinfo=timezone.utc))))[0]
    assert again.envelope.event_id == first.event_id
    changed = hl7_gen.oru(3).replace(b"pt improved", b"pt improved, refused transport")
    assert records(parse_hl7(changed, ctx))[0].envelope.event_id != first.event_id


def test_hl7_time():
    assert hl7_time("20241007211549-0400") == datetime(2024, 10, 7, 21, 15, 49, tzinfo=EDT)
    assert hl7_time("202410072115+0530").utcoffset() == timedelta(hours=5, minutes=30)
    assert hl7_time("20241007211549") is None and hl7_time("2024130721-0400") is None


def _reason(data: bytes, ctx, **limits) -> str:
    (refused,) = parse_hl7(data, ctx, **limits)
    assert isinstance(refused, Refused)
    return refused.reason


def test_refusals(ctx):
    good = hl7_gen.oru(4)
    assert _reason(b"", ctx) == "message does not start with an MSH segment"
    assert _reason(good[good.index(b"\rPID") + 1:], ctx) == "message does not start with an MSH segment"
    assert _reason(good.replace(b"MSH|^~\\&|", b"MSH|^^\\&|", 1), ctx) == "MSH-1/MSH-2 encoding characters are invalid"
    assert _reason(good.replace(b"MSH|^~\\&|", b"MSHA^~\\&A", 1), ctx) == "MSH-1/MSH-2 encoding characters are invalid"
    assert _reason(good[:40], ctx) == "MSH is truncated: it has fewer than 12 fields"
    assert _reason(good[:good.index(b"\rPV1") + 3], ctx) == "segment 3 has no valid segment id"
    assert _reason(good.replace(b"Narcan", b"Nar\x00can"), ctx) == "message contains control characters"
    assert _reason(good.replace(b"Narcan", b"Nar\xff\xfecan"), ctx).startswith("message is not valid utf-8 (byte ")
    assert _reason(good.replace(b"Narcan", b"N" * 70_000), ctx) == "NTE-3 (segment 15) is longer than 65536 characters"
    assert _reason(good, ctx, max_bytes=100).endswith("over the 100-byte limit")
    assert _reason(good.replace(b"ORU^R01^ORU_R01", b"MDM^T02"), ctx) == \
        "message type is not ORU^R01, ADT^A04 or ADT^A08"
    no_pid = b"\r".join(s for s in good.split(b"\r") if not s.startswith(b"PID"))
    assert _reason(no_pid, ctx) == "message has no PID segment"
    no_incident = good.replace(b"^^^PSAP-N^VN", b"").replace(b"|24-", b"|")
    no_incident = b"\r".join(s for s in no_incident.split(b"\r") if not s.startswith(b"PV1"))
    assert _reason(no_incident, ctx) == "message has no incident number (PV1-19 or OBX eResponse.03)"
    assert _reason(good + b"MSH|^~\\&|X|Y|Z|W|20240101000000-0400||ORU^R01|2|P|2.5.1\r", ctx) == \
        "segment 16 is a second MSH (batches are not accepted)"


def test_latin1_charset_from_msh18(ctx):
    data = hl7_gen.oru(5).decode().replace("|P|2.5.1", "|P|2.5.1||||||8859/1", 1).replace("Danbury", "Montréal")
    (run,) = records(parse_hl7(data.encode("latin-1"), ctx))
    assert run.patient.address.city == "Montréal"


def test_mllp_framing_and_lf_separators_are_tolerated(ctx):
    data = hl7_gen.oru(6)
    framed = b"\x0b" + data.replace(b"\r", b"\n") + b"\x1c\r"
    assert records(parse_hl7(framed, ctx))[0].envelope.event_id == records(parse_hl7(data, ctx))[0].envelope.event_id


def test_random_corruption_never_raises(ctx):
    rng = random.Random(42)
    base = hl7_gen.oru(7)
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = bytes(data[:rng.randrange(len(data) + 1)])
        for sample in (bytes(data), cut):
            results = parse_hl7(sample, ctx)
            assert len(results) == 1 and isinstance(results[0], (Parsed, Refused))
            assert build_ack(sample, "AE", "x").startswith(b"MSH|^~\\&|")


def test_read_header_for_the_ack(ctx):
    head = read_header(hl7_gen.oru(8, control_id="CTRL-8"))
    assert (head.control_id, head.message_type, head.trigger, head.sending_app) == ("CTRL-8", "ORU", "R01", "EPCR-APP")
    assert isinstance(read_header(b"garbage"), Refused)


def test_ack_accept_and_error():
    original = hl7_gen.oru(9, control_id="CTRL-9")
    at = datetime(2024, 10, 7, 21, 20, tzinfo=EDT)
    msh, msa = _segments(build_ack(original, "AA", "", at=at))
    fields = msh.split("|")
    assert fields[2:6] == ["HANDOFF", "PSAP-N", "EPCR-APP", "EMS-012"]
    assert (fields[6], fields[8], fields[10], fields[11]) == ("20241007212000-0400", "ACK^R01^ACK", "P", "2.5.1")
    assert len(fields[9]) <= 20 and msa == "MSA|AA|CTRL-9"
    assert build_ack(original, "AA", "", at=at) == build_ack(original, "AA", "", at=at)

    _, msa, err = _segments(build_ack(original, "AE", "PCR has no incident | number ^ here"))
    assert msa == "MSA|AE|CTRL-9"
    assert err == "ERR|||207^Application internal error^HL70357|E||||PCR has no incident \\F\\ number \\S\\ here"
    assert read(build_ack(original, "AE", "x")).msh.field(10) != read(build_ack(original, "AA", "")).msh.field(10)


def test_ack_for_unreadable_message_is_a_reject():
    msh, msa, err = _segments(build_ack(b"\x00garbage", "AA", "", error_code="200"))
    assert msa == "MSA|AR|" and err.startswith("ERR|||200^Unsupported message type^HL70357|E")
    assert msh.split("|")[8] == "ACK^^ACK"
