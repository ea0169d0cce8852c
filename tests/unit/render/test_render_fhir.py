"""The FHIR R4 message Bundle: variants, Part 2 labels, identity, update and cancel."""
from __future__ import annotations

import json

import pytest

from pipeline.render import RenderError, default_redaction, referring_party, render, render_cancel
from pipeline.render.fhir import PROFILES
from pipeline.vocab import Action, Basis, Outcome, Variant
from tests.unit.render import cases as c
from tests.unit.render.support import one, resources, valid_bundle

SOURCES = [c.ems_run(), c.incident()]


def bundle_for(variant=Variant.FULL, basis=Basis.HIPAA_TREATMENT, part2=False, request=None, sources=SOURCES,
               action=Action.CREATE, kind="fhir-rest"):
    request = request or c.ems_request()
    recipient = c.provider(kind)
    payload = render(request, sources, c.decision(request, recipient, variant, basis, part2), recipient,
                     action=action, redaction=default_redaction())
    return payload, valid_bundle(payload.body, variant)


def codes(bundle: dict, kind: str) -> set[str]:
    field = {"Condition": "code", "MedicationAdministration": "medicationCodeableConcept"}[kind]
    return {coding["code"] for res in resources(bundle, kind) for coding in res[field]["coding"]}


def test_full_carries_the_clinical_picture():
    _, b = bundle_for()
    assert [e["resource"]["resourceType"] for e in b["entry"]][:4] == ["MessageHeader", "Task", "ServiceRequest",
                                                                      "Patient"]
    assert b["meta"]["profile"] == [PROFILES["Bundle"]] and "|2.0.0-ballot" in PROFILES["Bundle"]
    assert codes(b, "Condition") == {"T40.1X1A", "F11.20", "F32.9", "R06.89"}  # R51.9 was a pertinent negative
    given = one(b, "MedicationAdministration")  # the refused dose (PN) is not there
    assert given["dosage"]["route"]["coding"][0]["code"] == "46713006"
    assert given["dosage"]["dose"] == {"value": 4.0, "unit": "mg", "system": "http://unitsofmeasure.org",
                                       "code": "mg"}  # eMedications.05/.06, not data-absent
    assert [n["text"] for n in given["note"]] == ["response: improved",
                                                  "given before EMS arrival by law enforcement"]  # eMedications.10
    indicator = one(b, "Observation")["valueCodeableConcept"]["coding"][0]
    assert (indicator["code"], indicator["display"]) == ("3117003", "Drug Paraphernalia at Scene")
    condition = next(r for r in resources(b, "Condition") if r["code"]["coding"][0]["code"] == "F32.9")
    assert condition["code"]["coding"][0]["display"] == "Major depressive disorder, single episode, unspecified"
    sr, task, patient = one(b, "ServiceRequest"), one(b, "Task"), one(b, "Patient")
    assert sr["code"]["coding"][0]["code"] == "4266003" and sr["priority"] == "urgent"
    assert [(x["coding"][0]["code"], x["coding"][1]["code"]) for x in sr["reasonCode"]] == [
        ("55680006", "overdose"), ("242253008", "opioid_overdose"), ("66214007", "substance_use"),
        ("74732009", "behavioral_health")]  # SNOMED CT first, the category second
    document = one(b, "Bundle")
    composition = document["entry"][0]["resource"]
    assert sr["supportingInfo"] == [{"reference": f"urn:uuid:{document['id']}"}]
    reasons = {e["fullUrl"]: e["resource"]["code"]["coding"][0]["code"] for e in document["entry"]
               if e["resource"]["resourceType"] == "Condition"}
    by_section = {s["code"]["coding"][0]["code"]: s["entry"] for s in composition["section"]}
    assert {reasons[ref["reference"]] for ref in by_section["42349-1"]} == {"T40.1X1A", "F11.20", "F32.9"}
    assert task["status"] == "requested" and task["businessStatus"]["coding"][0]["code"] == "2.0"
    assert task["owner"]["display"] == "Bridge Clinic (MOUD)"
    roles = {e["fullUrl"]: e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "PractitionerRole"}
    assert roles[task["owner"]["reference"]]["code"] == [{"text": "Referral recipient"}]
    assert one(b, "MessageHeader")["sender"]["reference"] in roles and sr["requester"] == task["requester"]
    assert patient["birthDate"] == "1991-07-02" and patient["gender"] == "female"
    assert patient["identifier"][0]["value"].startswith("pl-") and "tok-" not in json.dumps(b)  # never the token
    encounter = one(b, "Encounter")
    assert {"system": "urn:handoff:incident:psap-north", "value": "2026-000417"} in encounter["identifier"]
    assert "meta" not in patient or "security" not in patient["meta"]  # not Part 2 content here
    assert "pt found" not in json.dumps(b).lower() and "unresponsive" not in json.dumps(b)  # no free text copied


def test_no_sud_strips_every_sud_finding_and_the_service_that_reveals_it():
    _, b = bundle_for(Variant.NO_SUD)
    assert codes(b, "Condition") == {"F32.9", "R06.89"}
    assert resources(b, "MedicationAdministration") == [] and resources(b, "Observation") == []
    sr = one(b, "ServiceRequest")
    assert [x["code"] for x in sr["reasonCode"][0]["coding"]] == ["74732009", "behavioral_health"]
    assert len(sr["reasonCode"]) == 1
    assert sr["code"]["coding"][0]["code"] == "306206005"  # sud-treatment itself reveals SUD
    assert "4266003" not in json.dumps(b)
    _, mh = bundle_for(Variant.NO_SUD, request=c.ems_request(service=c.Service.MH_CRISIS_FOLLOWUP))
    assert one(mh, "ServiceRequest")["code"]["coding"][0]["code"] == "61801003"


def test_outreach_only_is_contact_and_service():
    _, b = bundle_for(Variant.OUTREACH_ONLY, request=c.ems_request(service=c.Service.HOUSING_SOCIAL))
    kinds = {res["resourceType"] for res in resources(b)}
    assert kinds == {"MessageHeader", "Task", "ServiceRequest", "Patient", "Organization", "PractitionerRole",
                     "Provenance"}
    patient = one(b, "Patient")
    assert patient["name"] == [{"family": "Quillfeather", "given": ["Morgan", "J"]}]
    assert patient["telecom"][0]["value"] == "217-555-0142" and patient["address"][0]["postalCode"] == "62701"
    assert "birthDate" not in patient and patient["gender"] == "unknown"  # US Core wants a gender; none carried
    sr = one(b, "ServiceRequest")
    assert sr["code"]["coding"][0]["code"] == "306238000"
    assert "reasonCode" not in sr and "reasonReference" not in sr and "encounter" not in sr


def test_part2_content_is_labelled_with_notice_and_consent_scope():
    _, b = bundle_for(basis=Basis.PART2_CONSENT, part2=True)
    codes_ = [(s["system"].rsplit("/", 1)[1], s["code"]) for s in b["meta"]["security"]]
    assert codes_ == [("v3-Confidentiality", "R"), ("v3-ActCode", "42CFRPart2"), ("v3-ActCode", "NORDSCLCD")]
    assert all(res["meta"]["security"] == b["meta"]["security"] for res in resources(b))
    sr, consent = one(b, "ServiceRequest"), one(b, "Consent")
    notes = [n["text"] for n in sr["note"]]
    assert c.NOTICE in notes and any(n.startswith("Consent scope: Consent consent-31") for n in notes)
    assert sr["supportingInfo"][0] == {"reference": next(e["fullUrl"] for e in b["entry"] if e["resource"] is consent)}
    assert consent["policyRule"]["coding"][0]["code"] == "42CFRPart2"
    assert "consent-31" in consent["text"]["div"] and consent["provision"]["purpose"][0]["code"] == "TREAT"


def test_hipaa_authorisation_cites_its_policy_and_a_plain_permit_has_no_consent():
    _, auth = bundle_for(basis=Basis.HIPAA_AUTHORIZATION)
    assert one(auth, "Consent")["policy"][0]["uri"].endswith("section-164.508")
    _, plain = bundle_for()
    assert resources(plain, "Consent") == []
    linked = {e["fullUrl"]: e["resource"].get("type") for e in plain["entry"]}
    assert [linked[s["reference"]] for s in one(plain, "ServiceRequest")["supportingInfo"]] == ["document"]


def test_same_input_same_bytes_and_an_update_is_the_same_referral():
    first, b1 = bundle_for()
    again, _ = bundle_for()
    assert first.body == again.body and first.message_id == again.message_id and len(first.message_id) <= 20
    update, b2 = bundle_for(request=c.ems_request(revision=2), action=Action.UPDATE)
    assert update.message_id != first.message_id and update.action == Action.UPDATE
    assert one(b2, "MessageHeader")["eventCoding"]["code"] == "I13"
    for kind in ("Task", "ServiceRequest", "Patient", "Encounter"):
        assert one(b1, kind)["id"] == one(b2, kind)["id"]  # the recipient's copy is replaced, not doubled
    assert one(b1, "MessageHeader")["id"] != one(b2, "MessageHeader")["id"] and b1["id"] != b2["id"]
    assert one(b1, "Task")["identifier"] == one(b2, "Task")["identifier"]


def test_cancel_is_a_task_cancellation_of_the_same_referral_that_discloses_nothing():
    create, b1 = bundle_for(basis=Basis.PART2_CONSENT, part2=True)
    recipient = c.provider()
    referral = one(b1, "Task")["identifier"][0]["value"]
    payload = render_cancel(referral, c.PERSON, recipient, "consent revoked", c.T0,
                            referring=referring_party(c.ems_request(), SOURCES))
    cancel = valid_bundle(payload.body)
    task = one(cancel, "Task")
    assert task["id"] == one(b1, "Task")["id"] and task["status"] == "cancelled"
    assert task["statusReason"]["text"] == "consent revoked" and task["businessStatus"]["coding"][0]["code"] == "6.0"
    assert one(cancel, "ServiceRequest")["status"] == "revoked"
    assert one(cancel, "MessageHeader")["eventCoding"]["code"] == "I14" and payload.message_id != create.message_id
    created = one(b1, "Patient")
    assert one(cancel, "Patient") == {"resourceType": "Patient", "id": created["id"], "gender": "unknown",
                                      "identifier": created["identifier"], "name": [{"extension": [
                                          {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                           "valueCode": "masked"}]}]}  # linkage only
    # the same sender as the I12 it cancels: the same initiator role, naming the same agency
    assert one(cancel, "MessageHeader")["sender"] == one(b1, "MessageHeader")["sender"]
    assert {o["name"] for o in resources(cancel, "Organization")} == {o["name"] for o in resources(b1, "Organization")}
    assert "Quillfeather" not in payload.body.decode() and "T40" not in payload.body.decode()


def test_field_referral_names_the_referrer_and_carries_the_note_only_in_full():
    request = c.field_request()
    _, b = bundle_for(request=request, sources=[c.field_referral()])
    role = next(r for r in resources(b, "PractitionerRole") if r["code"] == [{"text": "officer"}])
    assert role["identifier"][0]["value"] == "badge-4471"
    assert one(b, "Task")["requester"]["reference"] == next(e["fullUrl"] for e in b["entry"] if e["resource"] is role)
    assert [n["text"] for n in one(b, "ServiceRequest")["note"]] == ["Asked for a peer coach; prefers evenings."]
    assert resources(b, "Encounter") == []  # no EMS response, no incident
    _, redacted = bundle_for(Variant.NO_SUD, request=request, sources=[c.field_referral()])
    assert "note" not in one(redacted, "ServiceRequest")


def test_sources_the_request_does_not_name_are_ignored():
    other = c.ems_run().model_copy(update={"envelope": c.envelope("PCR-OTHER"), "pcr_number": "PCR-OTHER",
                                           "primary_impression": c.coded("T43.621A")})
    _, b = bundle_for(sources=SOURCES + [other])
    assert "T43.621A" not in json.dumps(b) and "PCR-OTHER" not in json.dumps(b)


def test_only_a_permit_for_this_recipient_renders():
    request, recipient = c.ems_request(), c.provider()
    held = c.decision(request, recipient).model_copy(update={"outcome": Outcome.HOLD, "variant": None})
    with pytest.raises(RenderError, match="does not permit"):
        render(request, SOURCES, held, recipient, redaction=default_redaction())
    with pytest.raises(RenderError, match="another recipient"):
        render(request, SOURCES, c.decision(request, recipient), c.provider(pid="org-other"),
               redaction=default_redaction())
