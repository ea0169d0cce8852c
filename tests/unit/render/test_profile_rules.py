"""Each profile rule (pipeline/render/profile.py) fails when a golden file is broken the way it
forbids: the checks can fail, and each one cites the rule it checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.render.profile import problems

GOLDEN = Path(__file__).parent / "golden"


def load(name: str = "ems-full-part2") -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_bytes())


def res(bundle: dict, kind: str, n: int = 0) -> dict:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind][n]


def doc(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Bundle")


def in_doc(bundle: dict, kind: str) -> dict:
    return next(e["resource"] for e in doc(bundle)["entry"] if e["resource"]["resourceType"] == kind)


def url(bundle: dict, kind: str) -> str:
    return next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def _set(path: list, value):
    def apply(b: dict) -> None:
        node = b
        for key in path[:-1]:
            node = node(b) if callable(node) else node
            node = key(node) if callable(key) else node[key]
        node[path[-1]] = value
    return apply


def _del(getter, key):
    return lambda b: getter(b).pop(key)


BREAKS = [
    # (rule cited, golden, how it is broken)
    ("BSeR-ReferralMessageHeader event[x] = v2-0003#I12", "ems-full-part2",
     lambda b: res(b, "MessageHeader")["eventCoding"].update(code="I13")),
    ("BSeR-ReferralMessageHeader sender only Reference(USCorePractitionerRole)", "ems-full-part2",
     lambda b: res(b, "MessageHeader").update(sender={"reference": url(b, "Organization")})),
    ("destination.receiver only Reference(USCorePractitionerRole)", "ems-full-part2",
     lambda b: res(b, "MessageHeader")["destination"][0].update(receiver={"reference": url(b, "Organization")})),
    ("BSeR-ReferralMessageHeader destination 1..1", "ems-full-part2",
     lambda b: res(b, "MessageHeader")["destination"][0].pop("receiver")),
    ("BSeR-ReferralMessageHeader focus 1..1 only Reference(BSeRReferralTask)", "ems-full-part2",
     lambda b: res(b, "MessageHeader").update(focus=[{"reference": url(b, "ServiceRequest")}])),
    ("BSeR-ReferralMessageBundle entry[messageHeader] only BSeRReferralMessageHeader", "ems-full-part2",
     lambda b: res(b, "MessageHeader").pop("meta")),
    ("BSeR-ReferralMessageBundle entry[messageHeader] 1..1", "ems-full-part2",
     lambda b: b["entry"].append(b["entry"][0] | {"fullUrl": "urn:uuid:x"})),
    ("R4 messaging: the first entry", "ems-full-part2", lambda b: b["entry"].reverse()),
    ("BSeR: the Referral Recipient is a PractitionerRole", "ems-full-part2",
     lambda b: res(b, "Task").update(owner={"reference": url(b, "Organization")})),
    ("BSeR: the Referral Initiator is a PractitionerRole", "ems-full-part2",
     lambda b: res(b, "Task").update(requester={"reference": url(b, "Organization")})),
    ("ReferralTask code = task-code#fulfill", "ems-full-part2",
     lambda b: res(b, "Task")["code"]["coding"][0].update(code="approve")),
    ("ReferralTask statusReason.text 1..1", "ems-full-part2",
     lambda b: res(b, "Task").update(statusReason={"coding": []})),
    ("statusReason.text", "cancel", lambda b: res(b, "Task").pop("statusReason")),
    ("ReferralTask identifier[referralInitiatorTaskIdentifier]", "ems-full-part2",
     lambda b: res(b, "Task")["identifier"][0]["type"]["coding"][0].update(code="FILL")),
    ("ReferralTask businessStatus from TaskBusinessStatusVS", "ems-full-part2",
     lambda b: res(b, "Task")["businessStatus"]["coding"][0].update(system="urn:x")),
    ("BSeR-ReferralTask focus only Reference(BSeRReferralServiceRequest)", "ems-full-part2",
     lambda b: res(b, "Task").update(focus={"reference": url(b, "Patient")})),
    ("ReferralTask 1..: Task.authoredOn is missing", "ems-full-part2", lambda b: res(b, "Task").pop("authoredOn")),
    ("BSeR-ReferralServiceRequest requester only Reference(USCorePractitionerRole)", "ems-full-part2",
     lambda b: res(b, "ServiceRequest").update(requester={"reference": url(b, "Organization")})),
    ("BSeR-ReferralServiceRequest performer only", "ems-full-part2",
     lambda b: res(b, "ServiceRequest").update(performer=[{"reference": url(b, "Patient")}])),
    ("BSeR-ReferralServiceRequest supportingInfo only", "ems-full-part2",
     lambda b: res(b, "ServiceRequest")["supportingInfo"].append({"reference": url(b, "Patient")})),
    ("BSeR-ReferralServiceRequest supportingInfo only", "ems-full-part2",  # a nested Bundle that is not a document
     lambda b: doc(b).update(type="collection")),
    ("ReferralServiceRequest occurrence[x]", "ems-full-part2", lambda b: res(b, "ServiceRequest").pop("occurrencePeriod")),
    ("ReferralServiceRequest reasonCode.text 1..1", "ems-full-part2",
     lambda b: res(b, "ServiceRequest")["reasonCode"][0].pop("text")),
    ("ServiceRequest.reasonCode is SNOMED CT first", "ems-full-part2",
     lambda b: res(b, "ServiceRequest")["reasonCode"][0]["coding"].reverse()),
    ("ReferralServiceRequest identifier[referralInitiatorServiceRequestIdentifier]", "ems-full-part2",
     lambda b: res(b, "ServiceRequest").pop("identifier")),
    ("BSeR-ReferralServiceRequest code from", "ems-full-part2",
     lambda b: res(b, "ServiceRequest")["code"]["coding"][0].update(system="urn:handoff:service")),
    ("BSeR-ReferralServiceRequest subject only Reference(BSeRPatient)", "ems-full-part2",
     lambda b: res(b, "ServiceRequest").update(subject={"reference": url(b, "Organization")})),
    ("US Core Patient gender 1..1", "ems-outreach-only", lambda b: res(b, "Patient").pop("gender")),
    ("US Core Patient name 1..*", "cancel", lambda b: res(b, "Patient").pop("name")),
    ("US Core Patient identifier 1..*", "ems-full-part2", lambda b: res(b, "Patient")["identifier"][0].pop("system")),
    ("address.state is a USPS abbreviation", "ems-full-part2", lambda b: res(b, "Patient")["address"][0].update(state="17")),
    ("carries a code (GNIS/FIPS) where a name belongs", "ems-full-part2",
     lambda b: res(b, "Patient")["address"][0].update(city="213415")),
    ("communication.language is a BCP-47 tag", "ems-full-part2",
     lambda b: res(b, "Patient")["communication"][0]["language"]["coding"][0].update(code="spa_x")),
    ("US Core PractitionerRole pd-1", "ems-full-part2", lambda b: res(b, "PractitionerRole").pop("organization")),
    ("US Core Organization 1..1", "ems-full-part2", lambda b: res(b, "Organization").pop("name")),
    ("BSeR-PatientConsent dateTime 1..1", "ems-full-part2", lambda b: res(b, "Consent").pop("dateTime")),
    ("BSeR-PatientConsent performer 1..1", "ems-full-part2",
     lambda b: res(b, "Consent").update(performer=[{"reference": url(b, "Organization")}])),
    ("BSeR-PatientConsent category 1..1", "ems-full-part2",
     lambda b: res(b, "Consent")["category"].append(res(b, "Consent")["category"][0])),
    ("BSeR-PatientConsent provision 1..1, provision.type", "ems-full-part2",
     lambda b: res(b, "Consent")["provision"].pop("type")),
    ("Consent ppc-1", "field-authorisation", lambda b: res(b, "Consent").pop("policy")),
    ("Bundle bdl-9", "ems-full-part2", lambda b: doc(b).pop("identifier")),
    ("Bundle bdl-10", "ems-full-part2", lambda b: doc(b).pop("timestamp")),
    ("Bundle bdl-11", "ems-full-part2", lambda b: doc(b)["entry"].reverse()),
    ("BSeR-ReferralRequestComposition author 1..1", "ems-full-part2",
     lambda b: in_doc(b, "Composition").update(author=[{"reference": url(doc(b), "Organization")}])),
    ("BSeR-ReferralRequestComposition section.code", "ems-full-part2",
     lambda b: in_doc(b, "Composition")["section"][0].pop("code")),
    ("Composition cmp-1", "ems-full-part2",
     lambda b: [in_doc(b, "Composition")["section"][0].pop(k) for k in ("text", "entry")]),
    ("BSeR-ReferralRequestComposition 1..: Composition.title", "ems-full-part2",
     lambda b: in_doc(b, "Composition").pop("title")),
    ("not in its Bundle", "ems-full-part2",  # a document must resolve its references itself
     lambda b: doc(b)["entry"].remove(next(e for e in doc(b)["entry"] if e["resource"]["resourceType"] == "Patient"))),
    ("MedicationAdministration mad-1", "ems-full-part2", lambda b: in_doc(b, "MedicationAdministration")["dosage"].pop("dose")),
    ("a dose keeps its unit", "ems-full-part2", lambda b: in_doc(b, "MedicationAdministration")["dosage"]["dose"].pop("unit")),
    ("a coded dose unit is UCUM", "ems-full-part2",
     lambda b: in_doc(b, "MedicationAdministration")["dosage"]["dose"].update(system="urn:nemsis")),
    ("EMS impressions and symptoms are ICD-10-CM", "ems-full-part2",
     lambda b: in_doc(b, "Condition")["code"]["coding"][0].update(system="urn:x")),
    ("has no display", "ems-full-part2", lambda b: in_doc(b, "Condition")["code"]["coding"][0].pop("display")),
    ("has no display", "ems-full-part2", lambda b: in_doc(b, "Observation")["valueCodeableConcept"]["coding"][0].pop("display")),
    ("has no display", "ems-full-part2", lambda b: res(b, "ServiceRequest")["reasonCode"][0]["coding"][0].pop("display")),
    ("lacks the Part 2 security labels", "ems-full-part2", lambda b: in_doc(b, "Condition")["meta"].pop("security")),
    ("42 CFR 2.32", "ems-full-part2", lambda b: res(b, "ServiceRequest").pop("note")),
    ("labelled restricted but the Bundle is not", "ems-no-sud",
     lambda b: res(b, "Patient").update(meta={"security": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                                      "v3-Confidentiality", "code": "R"}]})),
    ("repeats a fullUrl", "ems-full-part2", lambda b: b["entry"].append(b["entry"][-1])),
]


@pytest.mark.parametrize("rule, golden, breaks", BREAKS, ids=[f"{n}:{b[0][:40]}" for n, b in enumerate(BREAKS)])
def test_breaking_a_golden_file_fails_the_rule_that_forbids_it(rule, golden, breaks):
    bundle = load(golden)
    assert problems(bundle) == []  # the golden file conforms
    breaks(bundle)
    found = problems(bundle)
    assert any(rule in p for p in found), found

