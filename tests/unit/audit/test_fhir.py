"""FHIR AuditEvent rendering (IHE BALP), validated with fhir.resources R4B, for every kind."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from pipeline import records as r
from pipeline.audit import emit, fhir
from pipeline.clock import FixedClock
from pipeline.stage import Context
from pipeline.vocab import Action, AuditKind, Basis, Format, Outcome, Purpose, ReferralState, Variant
from tests.support.factory import T0, envelope

PERSON = r.PersonKey(person_token="9f" * 16, key_version=2)
CTX = Context("deliver", r.SourceRef(topic="delivery", record_id="d-1"), FixedClock(T0), "0af7651916cd43dd", 1, 42)


def _decision(outcome=Outcome.PERMIT, consent_id="consent-77") -> r.Decision:
    return r.Decision(referral_id="ref-1", request_id="req-1", recipient_id="prov-a", purpose=Purpose.TREATMENT,
                      outcome=outcome, variant=Variant.FULL, basis=Basis.PART2_CONSENT, consent_id=consent_id,
                      reasons=["consent names the recipient"], policy_version="p-3", decided_at=T0)


def _delivery() -> r.Delivery:
    return r.Delivery(envelope=envelope("PCR-9"), delivery_id="ref-1:m-1", referral_id="ref-1", recipient_id="prov-a",
                      endpoint=r.Endpoint(kind="inbox", address="inbox:prov-a"), format=Format.FHIR_R4,
                      action=Action.CREATE, message_id="m-1", content_type="application/fhir+json", payload=b"{}",
                      decision=_decision(), person=PERSON)


def _request() -> r.ReferralRequest:
    from pipeline.vocab import Service
    return r.ReferralRequest(envelope=envelope("PCR-9"), request_id="req-1", person=PERSON, episode_id="ep-1",
                      service=Service.SUD_TREATMENT)


def every_kind() -> dict[AuditKind, r.AuditEvent]:
    status = r.ReferralStatus(envelope=envelope("st-1"), referral_id="ref-1", state=ReferralState.ACCEPTED,
                              reported_by="prov-a")
    detection = r.Detection(envelope=envelope("PCR-9"), rules_version="r1", subject=r.SourceRef(topic="ems.run",
                            record_id="PCR-9"), key=r.IncidentKey(dispatch_centre="p", incident_number="i"))
    letter = r.DeadLetter(dead_letter_id="dl-1", stage="detect", reason="CodecError: bad", error_type="CodecError",
                          topic="h.ems.run.v1", partition=0, offset=3, failed_at=T0)
    return {
        AuditKind.INGEST: emit.ingest_audit("nemsis-http", "ems.run", envelope("PCR-9"), T0),
        AuditKind.DETECTION: emit.audit_for_output("detect", AuditKind.DETECTION, CTX, 0, 5, 0, "detection", detection),
        AuditKind.REFERRAL_REQUEST: emit.audit_for_output("detect", AuditKind.REFERRAL_REQUEST, CTX, 0, 5, 1,
                                                          "referral.request", _request()),
        AuditKind.DECISION: emit.decision_audit(_request(), _decision(Outcome.HOLD), CTX),
        AuditKind.DELIVERY_ATTEMPT: emit.delivery_attempt_audit(_delivery(), CTX, "failure", "ConnectTimeout"),
        AuditKind.DELIVERY_RESULT: emit.disclosure_audit(_delivery(), CTX),
        AuditKind.STATUS_CHANGE: emit.status_audit(status, CTX),
        AuditKind.DEAD_LETTER: emit.dead_letter_audit("detect", letter),
        AuditKind.REPLAY: emit.replay_audit("ops-1", T0, "ems.run.dlq", ["dl-1"], "fixed the mapping", "alice"),
        AuditKind.ADMIN: emit.admin_audit("admin-2", T0, "directory-update", "directory", {"version": "d-9"}, "bob"),
        AuditKind.VIEW: emit.view_audit("officer-7", T0, "cli", "disclosures", person=PERSON, os_login="carol"),
    }


def test_there_is_a_builder_for_every_kind() -> None:
    assert set(every_kind()) == set(AuditKind)
    assert all(event.kind == kind for kind, event in every_kind().items())


@pytest.mark.parametrize("kind", list(AuditKind))
def test_every_kind_renders_a_valid_r4_audit_event(kind: AuditKind) -> None:
    resource = fhir.to_fhir(every_kind()[kind])
    parsed = AuditEvent.model_validate(json.loads(json.dumps(resource)))
    assert parsed.id == every_kind()[kind].audit_id
    assert parsed.type.system == fhir.DCM
    assert any(c.system == fhir.HANDOFF_KIND and c.code == kind.value for c in parsed.subtype)
    text = json.dumps(resource)
    assert "Testperson" not in text and "Alex" not in text  # tokens, never names


def test_a_delivery_is_a_balp_privacy_disclosure() -> None:
    res = AuditEvent.model_validate(fhir.to_fhir(every_kind()[AuditKind.DELIVERY_RESULT]))
    assert (res.type.code, res.action) == ("110106", "R")
    assert [(c.system, c.code) for c in res.subtype][0] == (fhir.ISO21089, "disclose")
    assert res.purposeOfEvent[0].coding[0].code == "TREAT"
    roles = {a.type.coding[0].code: a.who.identifier.value for a in res.agent}
    assert roles == {"110153": "inbox", "110152": "prov-a"}
    patient = [e for e in res.entity if e.role and e.role.code == "1"][0]
    assert patient.what.identifier.value == PERSON.person_token
    assert patient.what.identifier.system == "urn:handoff:person-token:v2"
    assert res.meta.profile[0].endswith("IHE.BasicAudit.PrivacyDisclosure.Source")


def test_a_decision_is_a_security_alert_with_the_consent_as_entity() -> None:
    res = AuditEvent.model_validate(fhir.to_fhir(every_kind()[AuditKind.DECISION]))
    assert (res.type.code, res.action, res.outcome) == ("110113", "E", "0")
    assert (res.subtype[0].system, res.subtype[0].code) == (fhir.AUTHZ, "AuthZ-Consent")
    consent = [e for e in res.entity if e.type.code == "Consent"][0]
    assert consent.what.reference == "Consent/consent-77"
    recipient = [a for a in res.agent if a.type.coding[0].code == "IRCP"][0]
    assert recipient.who.identifier.value == "prov-a"
    assert res.outcomeDesc == "hold"


def test_a_view_names_the_signed_in_user_and_the_os_user() -> None:
    res = AuditEvent.model_validate(fhir.to_fhir(every_kind()[AuditKind.VIEW]))
    [agent] = res.agent
    assert (agent.who.identifier.value, agent.altId, agent.requestor) == ("officer-7", "carol", True)
    assert (res.type.code, res.action) == ("110110", "R")


def test_failures_carry_a_failure_outcome() -> None:
    attempt = AuditEvent.model_validate(fhir.to_fhir(every_kind()[AuditKind.DELIVERY_ATTEMPT]))
    assert attempt.outcome == "8" and all(c.code != "disclose" for c in attempt.subtype)


def test_a_bundle_of_every_kind_is_valid() -> None:
    events = sorted(every_kind().values(), key=lambda e: e.recorded_at + timedelta(0))
    bundle = Bundle.model_validate(fhir.bundle([fhir.to_fhir(e) for e in events]))
    assert bundle.type == "collection" and len(bundle.entry) == len(AuditKind)
