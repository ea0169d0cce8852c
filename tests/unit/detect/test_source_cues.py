"""Issue 18: cues that depend on the source, determinants in any printed form, law-enforcement drug calls."""
from __future__ import annotations

import pytest

from pipeline.detect import classify_incident, classify_run, load_rules
from pipeline.detect.engine import determinant
from tests.unit.detect.helpers import incident_from, run_from

RULES = load_rules()


def cats(detection) -> set[str]:
    return {c.value for c in detection.categories}


@pytest.mark.parametrize("text,expected", [
    ("23-C-01I", "23C1I"), ("23C1I", "23C1I"), ("23 C 1 I", "23C1I"), ("09-E-01", "9E1"), ("25-b-3", "25B3"),
    ("17-J-1", "17J1"), ("", ""),
])
def test_determinant_one_form(text, expected):
    assert determinant(text) == expected


@pytest.mark.parametrize("note,expected", [
    # the caller describes a relative, a roommate or a stranger: that person is the patient
    ("CALLER STATES HER SON SHOT UP HEROIN AND IS NOT BREATHING", {"overdose", "opioid_overdose", "substance_use"}),
    ("CALLER ADV HIS ROOMMATE IS THREATENING TO KILL HIMSELF", {"suicide_risk", "behavioral_health"}),
    ("CALLER'S DAUGHTER HEARING VOICES AND BREAKING THINGS", {"behavioral_health"}),
    # the notes already described the patient: a relative named later is someone else
    ("ELDERLY FEMALE FALL, CALLER STATES NEPHEW ON FENTANYL", set()),
    ("CALLER C/O HEADACHE, SAYS HER DAUGHTER IS USING HEROIN AGAIN", set()),
])
def test_call_notes_read_the_described_person_as_the_patient(note, expected):
    assert cats(classify_incident(incident_from(note), RULES)) == expected


def test_the_same_words_in_an_epcr_are_about_someone_else():
    assert cats(classify_run(run_from("Pt states her son shot up heroin and is not breathing."), RULES)) == set()


def test_caller_history_told_with_an_acute_sign_is_current_only_in_call_notes():
    note = "MALE BLUE AND UNRESPONSIVE ON FLOOR, HX HEROIN ABUSE PER WIFE"
    assert cats(classify_incident(incident_from(note), RULES)) == {"overdose", "opioid_overdose", "substance_use"}
    assert "substance_use" not in cats(classify_run(run_from(note.capitalize()), RULES))


@pytest.mark.parametrize("note", [
    "K9 ALERT ON VEHICLE, CRYSTAL METH FOUND IN CONSOLE, 1 IN CUSTODY",
    "SUBJ ARRESTED FOR POSSESSION OF HEROIN, TRANSPORTED TO JAIL",
    "ANON TIP RE DOPE SALES FROM APARTMENT 3",
])
def test_law_enforcement_drug_calls_are_not_substance_use(note):
    assert cats(classify_incident(incident_from({"call_type": "DRUGS", "narrative": note}), RULES)) == set()


def test_a_person_in_custody_who_overdoses_is_still_detected():
    note = "SUBJ ARRESTED FOR POSSESSION OF HEROIN, NOW UNRESPONSIVE, DEPUTY GAVE NARCAN, SUBJ WOKE UP"
    assert cats(classify_incident(incident_from(note), RULES)) >= {"overdose", "opioid_overdose"}


def test_not_breathing_negates_nothing_after_it():
    detection = classify_incident(incident_from("SUBJ NOT BREATHING, USED FENTANYL PER RP"), RULES)
    assert {"overdose", "opioid_overdose"} <= cats(detection)


def test_evidence_stays_explainable_with_offsets():
    note = "CALLER STATES HER SON SHOT UP HEROIN AND IS NOT BREATHING"
    detection = classify_incident(incident_from(note), RULES)
    spans = {note[e.start:e.end] for e in detection.evidence if e.start is not None}
    assert {"HEROIN", "NOT BREATHING"} <= spans
    assert all(e.rule_id and e.field for e in detection.evidence)


@pytest.mark.parametrize("text,expected", [
    ("Pt denies alcohol, drugs or tobacco.", set()),  # a list shares its negation across commas
    ("Pt has not eaten in days, paranoid, hearing voices.", {"behavioral_health"}),  # "not" stays in its clause
    ("A family member found an empty bottle of sertraline, pt admits a suicide attempt.",
     {"overdose", "suicide_risk", "behavioral_health"}),  # "family member" reports, it is not the patient
    ("Pt's sister-in-law uses heroin in the home.", set()),
])
def test_epcr_negation_scope_and_people(text, expected):
    assert cats(classify_run(run_from(text), RULES)) == expected
