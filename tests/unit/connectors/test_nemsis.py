"""NEMSIS v3.5.1 parser: the compliance cases field by field, every reference file, versions."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from connectors.common import Parsed, Refused
from connectors.nemsis import parse_emsdataset
from connectors.nemsis.pcr import ICD10CM, RXNORM, SNOMED
from pipeline.records import Coded
from tests.unit.connectors.helpers import make_ctx, records, shared_file

XSD = "nemsis/v3.5.1/xsd/EMSDataSet_v3.xsd"
EDT = timezone(timedelta(hours=-4))


def _one(relative: str, ctx):
    results = parse_emsdataset(shared_file(relative).read_bytes(), ctx)
    assert [type(r) for r in results] == [Parsed], results
    return results[0].record


def test_overdose_case_fields(ctx):
    run = _one("nemsis/v3.5.1/compliance/full/2025-EMS-1-Overdose_v351.xml", ctx)
    assert run.key.incident_number == "351-24.46512"
    assert run.key.dispatch_centre == "psap-351-C034P2"
    assert (run.pcr_number, run.pcr_uuid) == ("2025-EMS-1-Overdose_v351", "a1500a8d-f414-4ca3-84bc-4e0a7d0ccb15")
    assert run.agency_id == "351-C034P2"
    assert run.agency_name == "Danbury EMS Division of Danbury Fire Department"
    assert run.type_of_service.code == "2205001"
    assert (run.dispatch_reason.code, run.emd_determinant) == ("2301097", "26C1")
    assert run.times.psap_call == datetime(2024, 10, 7, 20, 20, tzinfo=EDT)
    assert run.times.in_service == datetime(2024, 10, 7, 21, 15, 33, tzinfo=EDT)
    p = run.patient
    assert (p.family, p.given, p.middle, p.sex, p.language) == ("Howell", "Maria", "Ariane", "F", "en")  # ISO 639-2 eng
    assert p.birth_date == date(1979, 4, 8)
    # NEMSIS codes become names: FIPS 09 -> CT, 09001 -> Fairfield County; the GNIS city is not a city name
    assert (p.address.street, p.address.county, p.address.county_code, p.address.state, p.address.zip,
            p.address.city) == ("", "Fairfield County", "09001", "CT", "06810", "")
    assert (run.age, run.age_units) == (45, "2516009")
    assert (run.scene.street, run.scene.latitude, run.scene.longitude) == ("285 Main Street", 41.396, -73.453)
    assert (run.scene.state, run.scene.county, run.scene.city) == ("CT", "Fairfield County", "")
    assert run.primary_symptom == Coded(code="R46.4", system=ICD10CM)
    assert [c.code for c in run.other_symptoms] == ["R41.0", "R46.2", "R47.81"]
    assert (run.primary_impression.code, [c.code for c in run.secondary_impressions]) == ("F19", ["F10.92"])
    assert run.situation_acuity.code == "2813003"
    assert run.injury_causes == [Coded(nil="7701001")]
    assert [c.code for c in run.alcohol_drug_indicators] == ["3117001", "3117003", "3117005", "3117007",
                                                             "3117009", "3117013"]
    assert [c.code for c in run.protocols] == ["9914135"]
    # one medication group, all not recorded: no drug, and not a pertinent negative
    assert len(run.medications) == 1 and run.medications[0].drug == Coded(nil="7701003")
    assert run.procedures[0].procedure == Coded(nil="7701003")
    d = run.disposition
    assert [d.unit_disposition.code, d.patient_evaluation_care.code, d.crew_disposition.code,
            d.transport_disposition.code] == ["4227001", "4228001", "4229001", "4230001"]
    assert (d.final_acuity.code, d.destination_type.code) == ("4219005", "4221039")
    assert run.arrest_outcome == Coded(nil="7701001")
    start = run.narrative.index("pilot program")
    assert run.narrative[start:start + 13] == "pilot program" and run.narrative.startswith("Overdose patient")
    assert run.findings == []
    assert run.envelope.source_record_version == int(datetime(2024, 10, 7, 21, 19, 49, tzinfo=EDT).timestamp())  # eTimes.16
    env = run.envelope
    assert (env.source_system, env.source_record_id, env.source_record_version) == (
        "nemsis:351-C034P2", "a1500a8d-f414-4ca3-84bc-4e0a7d0ccb15", run.envelope.source_record_version)
    assert (env.sender, env.programme_id, env.occurred_at) == ("agency-test", "prog-1", run.times.psap_call)
    assert len(env.content_digest) == 64


def test_suicide_case_fields_and_death(ctx):
    run = _one("nemsis/v3.5.1/compliance/full/2025-EMS-2-Suicide_v351.xml", ctx)
    assert (run.key.incident_number, run.pcr_number) == ("351-24.46519", "2025-EMS-2-Suicide_v351")
    assert (run.dispatch_reason.code, run.emd_determinant) == ("2301059", "25D1")
    assert (run.patient.family, run.patient.given, run.patient.sex) == ("Ortiz Hernández", "José", "M")
    assert run.patient.address.street == "31 Deer Run"
    assert (run.primary_symptom.code, [c.code for c in run.other_symptoms]) == ("R58", ["I46.9"])
    assert run.primary_impression.code == "T14.91"
    assert run.secondary_impressions == [Coded(nil="7701003")]
    assert [c.code for c in run.injury_causes] == ["T14.91", "X74.9"]
    # death: acuity dead without resuscitation is not this case; final acuity and arrest outcome are
    assert run.situation_acuity.code == "2813001"
    assert run.disposition.final_acuity.code == "4219009"
    assert run.arrest_outcome.code == "3018003"
    assert run.disposition.transport_disposition.code == "4230013"
    assert run.disposition.destination_type == Coded(nil="7701001")
    (med,) = run.medications
    assert med.drug == Coded(code="317361", system=RXNORM)
    assert (med.route, med.response, med.administered_by, med.given_prior) == ("9927023", "9916003", "9905007", False)
    assert med.given_at == datetime(2024, 10, 9, 6, 43, tzinfo=EDT)
    assert [p.procedure.code for p in run.procedures] == ["89666000", "182531007", "392230005"]
    assert {p.procedure.system for p in run.procedures} == {SNOMED}
    assert [c.code for c in run.alcohol_drug_indicators] == ["3117001", "3117017"]
    assert "Death declared at scene" in run.narrative


def test_pertinent_negative_medication_is_kept_with_its_pn(ctx):
    run = _one("nemsis/v3.5.1/sample-data/EMSDataset-PNs-1.xml", ctx)
    negated = [m for m in run.medications if m.drug.pn]
    assert [(m.drug.code, m.drug.system, m.drug.pn) for m in negated] == [("10368", RXNORM, "8801023")]
    assert [(p.procedure.code, p.procedure.pn) for p in run.procedures if p.procedure.pn] == [("243140006", "8801023")]
    assert [(c.code, c.pn) for c in run.other_symptoms if c.pn] == [("R14.0", "8801031")]


def test_not_values_are_kept_distinct(ctx):
    run = _one("nemsis/v3.5.1/sample-data/EMSDataset-Nils-1.xml", ctx)
    assert run.medications[0].drug == Coded(nil="7701001")
    assert run.key.incident_number == f"pcr-{run.pcr_uuid}"  # eResponse.03 is a not-value here
    assert any(f.startswith("eResponse.03: no incident number (not-value 7701003)") for f in run.findings)


def test_pn_without_value_is_a_finding_not_a_crash(ctx):
    run = _one("nemsis/v3.5.1/compliance/fail/2025-EMS-FailSchematron_v351.xml", ctx)
    assert run.other_symptoms == [Coded(pn="8801031")]
    assert "eSituation.10: pertinent negative 8801031 without a value" in run.findings


def test_pn_with_nv_is_a_finding(ctx):
    data = shared_file("nemsis/v3.5.1/compliance/full/2025-EMS-1-Overdose_v351.xml").read_bytes()
    data = data.replace(b"<eSituation.10>R41.0</eSituation.10>",
                        b'<eSituation.10 xsi:nil="true" NV="7701003" PN="8801031"/>')
    (run,) = records(parse_emsdataset(data, ctx))
    assert run.other_symptoms[0] == Coded(nil="7701003", pn="8801031")
    assert run.findings == ["eSituation.10: pertinent negative 8801031 together with not-value 7701003"]


@pytest.mark.parametrize("folder", ["compliance/full", "compliance/national", "compliance/fail", "sample-data"])
def test_every_reference_file_parses(folder, ctx):
    directory = shared_file(f"nemsis/v3.5.1/{folder}")
    for path in sorted(directory.glob("*.xml")):
        results = parse_emsdataset(path.read_bytes(), ctx)
        assert results and all(isinstance(r, Parsed) for r in results), (path.name, results)


def test_xsd_validation_passes_valid_and_refuses_failxsd_with_line():
    ctx = make_ctx(xsd_path=shared_file(XSD))
    for path in sorted(shared_file("nemsis/v3.5.1/compliance/full").glob("*.xml")):
        assert all(isinstance(r, Parsed) for r in parse_emsdataset(path.read_bytes(), ctx)), path.name
    bad = shared_file("nemsis/v3.5.1/compliance/fail/2025-EMS-FailXsd_v351.xml").read_bytes()
    (refused,) = parse_emsdataset(bad, ctx)
    assert isinstance(refused, Refused) and refused.record_id is None
    assert refused.reason.startswith("document fails NEMSIS XSD validation")
    assert refused.detail[0].startswith("line 121: Element 'eSituation': Missing child element(s)")
    assert "eSituation.19" in refused.detail[0]


def test_xsd_error_detail_does_not_echo_values():
    ctx = make_ctx(xsd_path=shared_file(XSD))
    data = shared_file("nemsis/v3.5.1/compliance/full/2025-EMS-1-Overdose_v351.xml").read_bytes()
    data = data.replace(b"<eResponse.05>2205001</eResponse.05>", b"<eResponse.05>SECRET-99</eResponse.05>")
    (refused,) = parse_emsdataset(data, ctx)
    assert isinstance(refused, Refused)
    assert "SECRET" not in refused.reason + "".join(refused.detail)
    assert any("eResponse.05" in line for line in refused.detail)


def test_three_pcrs_one_bad_gives_two_records_and_one_refusal(ctx):
    data = shared_file("nemsis/v3.5.1/compliance/full/2025-EMS-1-Overdose_v351.xml").read_bytes()
    head, rest = data.split(b"<PatientCareReport", 1)
    body, tail = rest.rsplit(b"</PatientCareReport>", 1)
    pcr = b"<PatientCareReport" + body + b"</PatientCareReport>"
    second = pcr.replace(b"a1500a8d-f414-4ca3-84bc-4e0a7d0ccb15", b"b1500a8d-f414-4ca3-84bc-4e0a7d0ccb15")
    broken = (pcr.replace(b' UUID="a1500a8d-f414-4ca3-84bc-4e0a7d0ccb15"', b"")
              .replace(b"<eRecord.01>2025-EMS-1-Overdose_v351</eRecord.01>", b""))
    results = parse_emsdataset(head + pcr + broken + second + tail, ctx)
    assert [type(r) for r in results] == [Parsed, Refused, Parsed]
    assert results[1].reason == "PatientCareReport has neither a UUID nor eRecord.01"
    assert results[1].detail[0].startswith("PatientCareReport at line ")
    assert {run.pcr_uuid for run in records(results)} == {"a1500a8d-f414-4ca3-84bc-4e0a7d0ccb15",
                                                             "b1500a8d-f414-4ca3-84bc-4e0a7d0ccb15"}


def test_replay_repeats_event_ids_and_amendment_is_a_new_version(ctx):
    data = shared_file("nemsis/v3.5.1/compliance/full/2025-EMS-1-Overdose_v351.xml").read_bytes()
    (first,) = records(parse_emsdataset(data, ctx))
    (again,) = records(parse_emsdataset(data, make_ctx(received_at=datetime(2025, 6, 1, tzinfo=timezone.utc))))
    assert again.envelope.event_id == first.envelope.event_id
    assert again.envelope.ingested_at != first.envelope.ingested_at
    (reindented,) = records(parse_emsdataset(data.replace(b"\n   ", b"\n\t"), ctx))
    assert reindented.envelope.event_id == first.envelope.event_id

    edited = data.replace(b"as part of pilot program.", b"as part of pilot program. Amended.")
    (amended,) = records(parse_emsdataset(edited, ctx))
    assert amended.envelope.source_record_id == first.envelope.source_record_id
    assert amended.envelope.event_id != first.envelope.event_id
    assert amended.envelope.source_record_version == first.envelope.source_record_version  # no later time: the digest tells them apart
    assert amended.envelope.correlation_id == first.envelope.correlation_id

    later = data.replace(b"<eTimes.16>2024-10-07T21:19:49-04:00", b"<eTimes.16>2024-10-07T23:19:49-04:00")
    (closed,) = records(parse_emsdataset(later, ctx))
    assert closed.envelope.source_record_version == first.envelope.source_record_version + 2 * 3600


@pytest.mark.parametrize("state, county, expected", [
    ("09", "09001", ("CT", "Fairfield County", "09001")),
    ("17", "17167", ("IL", "Sangamon County", "17167")),
    ("72", "72127", ("PR", "San Juan Municipio", "72127")),
    ("99", "99999", None),  # unknown codes are dropped, never written as names
    ("", "", None),
])
def test_places_are_written_with_names_not_codes(state, county, expected):
    from connectors.nemsis.pcr import place

    found = place("", state, county, "")
    assert (found.state, found.county, found.county_code) == expected if expected else found is None
    assert found is None or found.city == ""  # a GNIS feature id is not a city name


@pytest.mark.parametrize("iso639_2, bcp47", [("spa", "es"), ("eng", "en"), ("ger", "de"), ("deu", "de"),
                                             ("haw", "haw"), ("SPA", "es"), ("xxx", ""), ("es", ""), ("", "")])
def test_languages_are_bcp47_tags(iso639_2, bcp47):
    from connectors.nemsis.pcr import language

    assert language(iso639_2) == bcp47


def test_medication_dose_and_unit_are_read():
    from lxml import etree

    from connectors.nemsis.pcr import index, medications

    xml = ('<e xmlns="http://www.nemsis.org"><eMedications.MedicationGroup><eMedications.03 CodeType="9924003">7242'
           '</eMedications.03><eMedications.05>4</eMedications.05><eMedications.06>3706021</eMedications.06>'
           '<eMedications.10>9905047</eMedications.10></eMedications.MedicationGroup></e>')
    med = medications(index(etree.fromstring(xml)))[0]
    assert (med.dose, med.dose_unit, med.administered_by) == (4.0, "3706021", "9905047")
