"""The variant rules of render/content.py (issue 17, items 1, 9 and 11): what each variant keeps."""
from __future__ import annotations

import json

from pipeline.render import default_redaction, render
from pipeline.vocab import Basis, Format, Variant
from tests.unit.render import cases as c
from tests.unit.render.test_render_fhir import SOURCES, one, resources


def _bundle(variant, basis=Basis.HIPAA_TREATMENT, part2=False, labels=None, kind="fhir-rest", service=None):
    request = c.ems_request(**({"service": service} if service else {}))
    recipient = c.provider(kind)
    decision = c.decision(request, recipient, variant, basis, part2)
    if labels is not None:
        decision = decision.model_copy(update={"labels": labels})
    payload = render(request, SOURCES, decision, recipient, redaction=default_redaction())
    return payload


def test_outreach_only_carries_no_urgency_no_sources_no_consent_and_no_programme_as_requester():
    body = json.loads(_bundle(Variant.OUTREACH_ONLY, Basis.HIPAA_AUTHORIZATION, service=c.Service.HOUSING_SOCIAL).body)
    full = json.loads(_bundle(Variant.FULL, Basis.HIPAA_AUTHORIZATION, service=c.Service.HOUSING_SOCIAL).body)
    assert one(full, "Task")["priority"] == "urgent"  # the overdose makes the full referral urgent
    assert one(body, "Task")["priority"] == one(body, "ServiceRequest")["priority"] == "routine"
    assert "Consent" not in {res["resourceType"] for res in resources(body)} and "Consent" in {
        res["resourceType"] for res in resources(full)}
    assert "entity" not in one(body, "Provenance") and "ems.run" not in json.dumps(body)
    assert one(body, "ServiceRequest")["requester"]["display"] == "Handoff referral coordination"
    assert "ems-012" not in json.dumps(body) and "ems-012" in json.dumps(full)


def test_outreach_only_in_hl7_and_direct_says_routine():
    ref = _bundle(Variant.OUTREACH_ONLY, kind="hl7v2-mllp", service=c.Service.HOUSING_SOCIAL)
    rf1 = next(seg for seg in ref.body.decode().split("\r") if seg.startswith("RF1"))
    assert "A^ASAP" not in rf1 and "ASAP" not in ref.body.decode()
    mail = _bundle(Variant.OUTREACH_ONLY, kind="direct", service=c.Service.HOUSING_SOCIAL)
    assert b"Priority: routine" in mail.body and b"Priority: urgent" not in mail.body
    assert ref.format == Format.HL7V2 and mail.format == Format.DIRECT


def test_a_part2_record_keeps_its_labels_and_notice_in_reduced_variants():
    for variant in (Variant.NO_SUD, Variant.OUTREACH_ONLY):
        body = json.loads(_bundle(variant, Basis.PART2_CONSENT, part2=True,
                                  labels=["R", "42CFRPart2", "NORDSCLCD"]).body)
        assert [s["code"] for s in body["meta"]["security"]] == ["R", "42CFRPart2", "NORDSCLCD"]
        assert c.NOTICE in [n["text"] for n in one(body, "ServiceRequest")["note"]]


def test_a_tpo_consent_to_a_covered_provider_drops_no_redisclosure_only():
    body = json.loads(_bundle(Variant.FULL, Basis.PART2_CONSENT, part2=True, labels=["R", "42CFRPart2"]).body)
    assert [s["code"] for s in body["meta"]["security"]] == ["R", "42CFRPart2"]
    plain = json.loads(_bundle(Variant.FULL).body)
    assert "security" not in plain["meta"]
