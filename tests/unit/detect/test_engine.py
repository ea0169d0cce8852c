"""The engine: envelope and subject, death and contact, evidence offsets, PN precedence, context."""
from __future__ import annotations

import shutil

import pytest

from pipeline.detect import RulesError, classify_incident, classify_run, load_rules
from pipeline.detect.ruleset import RULES_DIR
from pipeline.records import Coded, EmsDisposition
from pipeline.vocab import Category
from tests.unit.detect.helpers import incident_from, run_from

RULES = load_rules()
OD, OPI, SU, BH, SUI = (Category.OVERDOSE, Category.OPIOID_OVERDOSE, Category.SUBSTANCE_USE,
                        Category.BEHAVIORAL_HEALTH, Category.SUICIDE_RISK)


def cats(detection) -> set[Category]:
    return set(detection.categories)


def test_envelope_subject_and_version_are_derived_from_the_source():
    run = run_from("Pt overdosed on heroin, narcan 4 mg IN given, pt woke up.")
    d = classify_run(run, RULES)
    assert d.rules_version == RULES.version and RULES.version.startswith("1.0.0+")
    assert d.envelope.event_id == f"detect:{run.envelope.event_id}:{RULES.version}"
    assert d.envelope.correlation_id == run.envelope.correlation_id and d.key == run.key
    assert (d.subject.topic, d.subject.record_id, d.subject.version) == ("ems.run", "PCR-1", 1)
    assert classify_run(run, RULES) == d  # pure and deterministic
    assert cats(d) == {OD, OPI, SU}


def test_evidence_carries_offsets_into_the_narrative_never_text():
    text = "Pt states he wants to kill himself."
    d = classify_run(run_from(text), RULES)
    ev = [e for e in d.evidence if e.category == SUI]
    assert ev and all(e.field == "eNarrative.01" for e in ev)
    assert text[ev[0].start:ev[0].end] == "kill himself"
    assert all("kill" not in e.code for e in d.evidence)


@pytest.mark.parametrize("disposition,acuity,arrest,died", [
    (EmsDisposition(), "", "", False),
    (EmsDisposition(final_acuity=Coded(code="4219009")), "", "", True),
    (EmsDisposition(), "2813007", "", True),
    (EmsDisposition(), "", "3018003", True),
])
def test_patient_died(disposition, acuity, arrest, died):
    run = run_from("Pt pulseless.", disposition=disposition, situation_acuity=Coded(code=acuity),
                   arrest_outcome=Coded(code=arrest))
    assert classify_run(run, RULES).patient_died is died


def test_patient_contact_follows_unit_disposition():
    contact = run_from("x", disposition=EmsDisposition(unit_disposition=Coded(code="4227001")))
    none = run_from("x", disposition=EmsDisposition(unit_disposition=Coded(code="4227005")))
    assert classify_run(contact, RULES).patient_contact and not classify_run(none, RULES).patient_contact


def test_pertinent_negative_naloxone_beats_the_narrative():
    text = "Narcan 4 mg IN given, pt became responsive."
    given = run_from({"narrative": text})
    pn = run_from({"narrative": text, "medications": [{"drug": "7242", "pn": "8801001"}]})
    assert OPI in cats(classify_run(given, RULES))
    assert OPI not in cats(classify_run(pn, RULES))


def test_pertinent_negative_symptom_beats_the_narrative():
    text = "Pt tearful, states he wants to die."
    assert SUI in cats(classify_run(run_from(text), RULES))
    pn = run_from({"narrative": text, "symptoms": [{"code": "R45.851", "pn": "8801031"}]})
    assert SUI not in cats(classify_run(pn, RULES))


@pytest.mark.parametrize("text,expected", [
    ("Pt denies drug or alcohol use. Chest pain 8/10.", set()),
    ("Pt has hx of heroin use, clean for 5 years.", set()),
    ("Pt states his brother overdosed on fentanyl last year.", set()),
    ("Pt's son is using heroin again.", set()),
    ("Risks of overdose explained, narcan kit left with family.", set()),
    ("Pt found unresponsive by girlfriend, pinpoint pupils, needle in arm. Narcan 2 mg IN, pt woke up.", {OD, OPI, SU}),
    ("Pt smoked meth, agitated and paranoid.", {SU}),
    ("Pt took 30 tylenol in a suicide attempt.", {OD, SUI, BH}),
    ("Pt took 30 tylenol in a suicide attempt, also uses crack daily.", {OD, SUI, BH, SU}),
    ("Strong odor of ETOH, pt unresponsive to verbal.", {SU}),
    ("Pt hearing voices, denies drug use.", {BH}),
    ("Fentanyl 50 mcg IV for pain, hip fracture.", set()),
])
def test_narrative_context(text, expected):
    assert cats(classify_run(run_from(text), RULES)) == expected


def test_codes_alone_and_substance_use_boundary_for_emotional_symptoms():
    assert cats(classify_run(run_from({"symptoms": ["R46.4"], "impressions": ["F19", "F10.92"]}), RULES)) == {SU}
    assert cats(classify_run(run_from({"symptoms": ["R46.2"]}), RULES)) == {BH}
    assert cats(classify_run(run_from({"impressions": ["T43.222A"]}), RULES)) == {OD, SUI, BH}


def test_dispatch_incident_by_call_type_mpds_and_notes():
    assert cats(classify_incident(incident_from({"call_type": "SUICTHRT"}), RULES)) == {SUI, BH}
    assert cats(classify_incident(incident_from({"mpds": "23-C-5I"}), RULES)) == {OD, SUI, BH}
    notes = incident_from({"call_type": "OD", "narrative": "RP ADV SON OD ON HEROIN, TURNING BLUE"})
    assert cats(classify_incident(notes, RULES)) == {OD, OPI, SU}
    other = incident_from({"call_type": "FALL", "narrative": "FEMALE FELL, CALLER STATES HER BROTHER USES HEROIN"})
    assert cats(classify_incident(other, RULES)) == set()
    assert classify_incident(notes, RULES).subject.topic == "dispatch.incident"


def test_run_reads_linked_dispatch_notes_but_not_the_call_type():
    run = run_from("Pt revived prior to arrival, refuses all care.")
    notes = incident_from({"call_type": "OD", "narrative": "PD ADMIN NARCAN X2, POSS HEROIN OVERDOSE"})
    bare = incident_from({"call_type": "EDP"})
    assert cats(classify_run(run, RULES)) == set()
    d = classify_run(run, RULES, notes)
    assert cats(d) == {OD, OPI, SU} and {e.field for e in d.evidence} >= {"dispatch.narrative"}
    assert cats(classify_run(run, RULES, bare)) == set()


def test_rules_version_changes_with_content(tmp_path):
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    codes = tmp_path / "rules" / "codes.yaml"
    codes.write_text(codes.read_text().replace("9914219", "9914999", 1))
    assert load_rules(tmp_path / "rules").version != RULES.version


@pytest.mark.parametrize("old,new,message", [
    ("categories: [substance_use]", "categories: [drug_use]", "drug_use"),
    ("all: [[bh_strong]]", "all: [[bh_nonexistent]]", "unknown concepts"),
    ("id: N-BH-WEAK", "id: N-BH", "duplicate rule id"),
])
def test_invalid_rules_are_refused_with_a_reason(tmp_path, old, new, message):
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    narrative = tmp_path / "rules" / "narrative.yaml"
    narrative.write_text(narrative.read_text().replace(old, new, 1))
    with pytest.raises(RulesError, match=message):
        load_rules(tmp_path / "rules")
