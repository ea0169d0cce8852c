"""Fixed, synthetic inputs for the render tests (fictional people; codes from the standards)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from pipeline import records as r
from pipeline.ids import referral_id
from pipeline.route import Provider
from pipeline.vocab import Basis, Category, Outcome, Pathway, Purpose, Service, Variant

T0 = datetime(2026, 3, 14, 2, 5, tzinfo=timezone.utc)
PERSON = r.PersonKey(person_token="tok-5e1c9a", key_version=1)
INCIDENT = r.IncidentKey(dispatch_centre="psap-north", incident_number="2026-000417")
NOTICE = ("This record which has been disclosed to you is protected by Federal confidentiality rules "
          "(42 CFR part 2). (test wording)")


def envelope(record_id: str, system: str = "nemsis:ems-012", at: datetime = T0) -> r.Envelope:
    return r.Envelope(event_id=f"{system}:{record_id}:v1", source_system=system, source_record_id=record_id,
                      occurred_at=at, ingested_at=at, correlation_id=f"psap-north:{record_id}")


def coded(code: str, system: str = "http://hl7.org/fhir/sid/icd-10-cm", pn: str = "") -> r.Coded:
    return r.Coded(code=code, system=system, pn=pn)


def patient() -> r.Person:
    return r.Person(family="Quillfeather", given="Morgan", middle="J", birth_date=date(1991, 7, 2), sex="F",
                    phone="217-555-0142", language="es",
                    address=r.Address(street="12 Elm | Apt ^2", city="Springfield", county="Sangamon", state="IL",
                                      zip="62701"))


def ems_run() -> r.EmsRun:
    return r.EmsRun(
        envelope=envelope("PCR-7781"), key=INCIDENT, agency_id="ems-012", agency_name="Capital Area EMS",
        pcr_number="PCR-7781", patient=patient(), age=34, age_units="2516009",
        times=r.EmsTimes(psap_call=T0 - timedelta(minutes=40), unit_notified=T0 - timedelta(minutes=39),
                         at_patient=T0 - timedelta(minutes=30), in_service=T0),
        primary_impression=coded("T40.1X1A"), secondary_impressions=[coded("F32.9"), coded("F11.20")],
        primary_symptom=coded("R06.89"), other_symptoms=[coded("R51.9", pn="8801031")],
        alcohol_drug_indicators=[coded("3117003", "nemsis:eHistory.17")],
        medications=[r.Medication(drug=coded("7242", "http://www.nlm.nih.gov/research/umls/rxnorm"), route="9927017",
                                  response="9916001", given_prior=True, administered_by="9905047", dose=4.0, dose_unit="3706021",
                                  given_at=T0 - timedelta(minutes=35)),
                     r.Medication(drug=coded("7242", "http://www.nlm.nih.gov/research/umls/rxnorm", pn="8801019"))],
        disposition=r.EmsDisposition(unit_disposition=r.Coded(code="4227001")),
        narrative="Pt found unresponsive by police, narcan given, improved.")


def incident() -> r.DispatchIncident:
    return r.DispatchIncident(envelope=envelope("2026-000417", "eido:psap-north", T0 - timedelta(minutes=41)),
                              key=INCIDENT, call_type="OD", received_at=T0 - timedelta(minutes=41))


def ems_request(revision: int = 1, service: Service = Service.SUD_TREATMENT) -> r.ReferralRequest:
    return r.ReferralRequest(
        envelope=envelope("req-ems"), request_id="req-ems", person=PERSON, episode_id="ep-417", service=service,
        reasons=[r.Evidence(category=Category.OPIOID_OVERDOSE, rule_id="C-OPIOID-ICD", field="eSituation.11",
                            code="T40.1X1A"),
                 r.Evidence(category=Category.SUBSTANCE_USE, rule_id="C-SUBSTANCE", field="eSituation.12", code="F11.20"),
                 r.Evidence(category=Category.BEHAVIORAL_HEALTH, rule_id="C-BH", field="eSituation.12", code="F32.9"),
                 r.Evidence(category=Category.OPIOID_OVERDOSE, rule_id="C-NALOXONE", field="eNarrative.01", start=24,
                            end=30)],
        categories=[Category.OVERDOSE, Category.OPIOID_OVERDOSE, Category.SUBSTANCE_USE, Category.BEHAVIORAL_HEALTH],
        source_records=[r.SourceRef(topic="ems.run", record_id="PCR-7781"),
                        r.SourceRef(topic="dispatch.incident", record_id="2026-000417")],
        revision=revision, subject=patient(), incident=INCIDENT, referring_agency="ems-012", age=34)


def field_referral() -> r.FieldReferral:
    return r.FieldReferral(
        envelope=envelope("FR-88", "field:pd-7"), agency_id="pd-7", referral_id="FR-88", referrer_role="officer",
        referrer_id="badge-4471", pathway=Pathway.OFFICER_PREVENTION,
        subject=r.Person(given="Sam", family="Okonkwo-Reyes", phone="217-555-0199"), services=[Service.PEER_RECOVERY],
        consent_status="signed", note="Asked for a peer coach; prefers evenings.")


def field_request() -> r.ReferralRequest:
    ref = field_referral()
    return r.ReferralRequest(envelope=envelope("req-field", "field:pd-7"), request_id="req-field", person=PERSON,
                      episode_id="ep-field-88", service=Service.PEER_RECOVERY,
                      source_records=[r.SourceRef(topic="field.referral", record_id="FR-88")],
                      pathway=Pathway.OFFICER_PREVENTION, subject=ref.subject, referring_agency="pd-7")


def provider(kind: str = "fhir-rest", pid: str = "org-bridge-clinic", hcp: bool = True) -> Provider:
    address = {"fhir-rest": "https://fhir.bridge.example/r4", "hl7v2-mllp": "mllp://10.0.0.7:2575",
               "direct": "referrals@direct.bridge.example", "inbox": pid, "webhook": "https://hooks.example/x"}[kind]
    return Provider(id=pid, name="Bridge Clinic (MOUD)", health_care_provider=hcp, accepting=True,
                    services=frozenset(Service), endpoint=r.Endpoint(kind=kind, address=address))


def decision(request: r.ReferralRequest, recipient: Provider, variant: Variant = Variant.FULL,
             basis: Basis = Basis.HIPAA_TREATMENT, part2: bool = False) -> r.Decision:
    return r.Decision(
        referral_id=referral_id(request, recipient.id), request_id=request.request_id, recipient_id=recipient.id,
        purpose=Purpose.TREATMENT if recipient.health_care_provider else Purpose.CARE_COORDINATION,
        outcome=Outcome.PERMIT if variant == Variant.FULL else Outcome.PERMIT_REDACTED, variant=variant, basis=basis,
        consent_id="consent-31" if basis in (Basis.PART2_CONSENT, Basis.HIPAA_AUTHORIZATION) else "",
        consent_signed_at=datetime(2026, 3, 1, 15, 30, tzinfo=timezone.utc)
        if basis in (Basis.PART2_CONSENT, Basis.HIPAA_AUTHORIZATION) else None,
        policy_version="2026-03-14.1", decided_at=T0 + timedelta(minutes=1),
        notice=NOTICE if part2 else "",
        consent_scope="Consent consent-31 (part2) signed 2026-03-01: information sud, general; to "
                      f"{recipient.id}; for treatment; revocable at any time." if part2 else "")
