"""One populated example of every record that travels on a topic (keys and values)."""
from __future__ import annotations

from datetime import timedelta

from pipeline import records as r
from pipeline.vocab import (
    Action, AuditKind, Basis, Category, ConsentKind, ConsentStatus, DataCategory, Format, Outcome,
    Pathway, Purpose, ReferralState, Service, Variant,
)
from tests.support.factory import T0, envelope, ems_run

PERSON = r.PersonKey(person_token="tok-3f9a", key_version=1)
INCIDENT = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-1")


def decision() -> r.Decision:
    return r.Decision(referral_id="ref-1", request_id="req-1", recipient_id="org-bridge", purpose=Purpose.TREATMENT,
                      outcome=Outcome.PERMIT, variant=Variant.FULL, basis=Basis.HIPAA_TREATMENT,
                      reasons=["recipient is a health-care provider"], policy_version="p1", decided_at=T0)


def referral() -> r.ReferralRequest:
    return r.ReferralRequest(
        envelope=envelope("ep-1"), request_id="req-1", person=PERSON, episode_id="ep-1", service=Service.SUD_TREATMENT,
        reasons=[r.Evidence(category=Category.OPIOID_OVERDOSE, rule_id="icd.t40", field="eSituation.11",
                            code="T40.1X1A")],
        categories=[Category.OVERDOSE, Category.OPIOID_OVERDOSE],
        source_records=[r.SourceRef(topic="ems.run", record_id="PCR-1")], pathway=Pathway.FIRST_RESPONDER,
        subject=r.Person(family="Testperson", given="Alex", phone="555-0100"), incident=INCIDENT)


def samples() -> dict[type, r.Record]:
    return {
        r.IncidentKey: INCIDENT,
        r.FieldReferralKey: r.FieldReferralKey(agency_id="pd-7", referral_id="FR-1"),
        r.PersonKey: PERSON,
        r.DeliveryKey: r.DeliveryKey(referral_id="ref-1", recipient_id="org-bridge"),
        r.ReferralKey: r.ReferralKey(referral_id="ref-1"),
        r.AuditKey: r.AuditKey(subject="tok-3f9a"),
        r.DeadLetterKey: r.DeadLetterKey(topic="handoff.ems.run.v1", partition=3),
        r.SurveillanceKey: r.SurveillanceKey(area="53033"),
        r.OverdoseReport: r.OverdoseReport(report_id="od-1", occurred_at=T0, area="53033", grid_cell="0.01:4760:-12234",
                                           latitude=47.605, longitude=-122.335, fatal=False, naloxone_given=True,
                                           naloxone_doses=2, opioid=True, pathway="ems-led", policy_version="1"),
        r.DispatchIncident: r.DispatchIncident(
            envelope=envelope("INC-1", system="eido:psap-north"), key=INCIDENT, call_type="OD", priority=7,
            dispositions=["15"], received_at=T0, location=r.Address(city="Springfield", latitude=39.8,
                                                                  longitude=-89.6),
            persons=[r.Person(role="caller", phone="555-0101")], narrative="caller reports male not breathing"),
        r.DispatchAlert: r.DispatchAlert(
            envelope=envelope("INC-1", system="handoff:alerts"), key=INCIDENT, alert_id="alert:psap-north/INC-1:org-c",
            recipient_id="org-c", endpoint=r.Endpoint(kind="webhook", address="https://127.0.0.1:8443/alerts"),
            action="update", incident_version=2, body=b'{"incident_number": "INC-1"}', reasons=["on duty"]),
        r.EmsRun: ems_run(),
        r.FieldReferral: r.FieldReferral(
            envelope=envelope("FR-1", system="field:pd-7"), agency_id="pd-7", referral_id="FR-1",
            referrer_role="officer", pathway=Pathway.OFFICER_PREVENTION, subject=r.Person(given="Sam"),
            services=[Service.PEER_RECOVERY], consent_status="proposed"),
        r.Detection: r.Detection(
            envelope=envelope(), key=INCIDENT, subject=r.SourceRef(topic="ems.run", record_id="PCR-1"),
            categories=[Category.OVERDOSE], rules_version="rules-1",
            evidence=[r.Evidence(category=Category.OVERDOSE, rule_id="text.od", field="eNarrative.01", start=4,
                                 end=15)]),
        r.ReferralRequest: referral(),
        r.ConsentSet: r.ConsentSet(person=PERSON, registry_version=3, updated_at=T0, consents=[r.ConsentRecord(
            consent_id="c-1", kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=["org-bridge"],
            purposes=[Purpose.TREATMENT], data_categories=[DataCategory.SUD], period_start=T0,
            period_end=T0 + timedelta(days=365), signed_at=T0, artefact_ref="doc-1")]),
        r.Delivery: r.Delivery(
            envelope=envelope("ref-1", system="handoff"), delivery_id="d-1", referral_id="ref-1",
            recipient_id="org-bridge", endpoint=r.Endpoint(kind="inbox", address="org-bridge"), format=Format.FHIR_R4,
            action=Action.CREATE, message_id="m-1", content_type="application/fhir+json", payload=b'{"a":1}',
            decision=decision(), person=PERSON),
        r.ReferralStatus: r.ReferralStatus(envelope=envelope("ref-1", system="handoff"), referral_id="ref-1",
                                           state=ReferralState.REQUESTED, reported_by="handoff"),
        r.AuditEvent: r.AuditEvent(audit_id="a-1", kind=AuditKind.DECISION, stage="decide", recorded_at=T0,
                                   actor="stage:decide", person=PERSON, basis=Basis.HIPAA_TREATMENT,
                                   detail={"k": "v"}),
        r.DeadLetter: r.DeadLetter(dead_letter_id="dl-1", stage="detect", reason="CodecError: x",
                                   error_type="CodecError", topic="handoff.ems.run.v1", partition=0, offset=7,
                                   value=b"\x00", headers={"traceparent": b"00-x"}, failed_at=T0),
    }
