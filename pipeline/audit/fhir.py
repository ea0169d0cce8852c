"""FHIR R4 AuditEvent from an audit record, after IHE BALP (Basic Audit Log Patterns).

- delivery result → PrivacyDisclosure at the source: type DCM 110106 Export, subtype
  ISO 21089 `disclose`, purposeOfEvent, agents source (110153) and recipient (110152), patient entity;
- decision → DCM 110113 Security Alert, subtype BALP AuthZ-Consent, entity the Consent used;
- delivery attempt → 110106 Export without `disclose` (nothing is disclosed until it arrives);
- ingest → 110107 Import; detection, referral request, status change → 110110 Patient Record;
- view → 110110 Patient Record with action R, the signed-in user as requestor and the
  operating-system user as its altId;
- dead letter, replay, administrative action → 110100 Application Activity.

Every event also carries its Handoff kind as a subtype (HANDOFF_KIND), so the export
loses nothing. Patients appear only as person tokens (identifier system names the key
version), never by name. The output is plain JSON (dict); tests validate it with
fhir.resources R4B.
"""
from __future__ import annotations

from typing import Any

from pipeline import records as r
from pipeline.vocab import AuditKind, Purpose

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ISO21089 = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
AUTHZ = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ENTITY_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
HANDOFF_KIND = "urn:handoff:audit-kind"
TOKEN_SYSTEM = "urn:handoff:person-token:v"  # + key version
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"

_TYPE = {
    AuditKind.INGEST: ("110107", "Import", "C"),
    AuditKind.DETECTION: ("110110", "Patient Record", "C"),
    AuditKind.REFERRAL_REQUEST: ("110110", "Patient Record", "C"),
    AuditKind.STATUS_CHANGE: ("110110", "Patient Record", "U"),
    AuditKind.DECISION: ("110113", "Security Alert", "E"),
    AuditKind.DELIVERY_ATTEMPT: ("110106", "Export", "R"),
    AuditKind.DELIVERY_RESULT: ("110106", "Export", "R"),
    AuditKind.VIEW: ("110110", "Patient Record", "R"),
    AuditKind.DEAD_LETTER: ("110100", "Application Activity", "E"),
    AuditKind.REPLAY: ("110100", "Application Activity", "E"),
    AuditKind.ADMIN: ("110100", "Application Activity", "U"),
}
_PURPOSE = {Purpose.TREATMENT: "TREAT", Purpose.CARE_COORDINATION: "COC", Purpose.OUTREACH: "CAREMGT",
            Purpose.EMERGENCY_RESPONSE: "ETREAT"}
_FAILED = {"failure", "deny", "error", "rejected"}


def _coding(system: str, code: str, display: str = "") -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _outcome(event: r.AuditEvent) -> str:
    if event.outcome in _FAILED:
        return "8" if event.kind in (AuditKind.DEAD_LETTER, AuditKind.DELIVERY_ATTEMPT) else "4"
    return "0"


def _who(value: str) -> dict[str, Any]:
    kind, _, name = value.partition(":")
    return {"identifier": {"system": f"urn:handoff:{kind}" if name else "urn:handoff:actor", "value": name or kind}}


def to_fhir(event: r.AuditEvent) -> dict[str, Any]:
    code, display, action = _TYPE[event.kind]
    subtypes = [_coding(HANDOFF_KIND, event.kind.value)]
    profile = None
    if event.kind == AuditKind.DELIVERY_RESULT:
        subtypes.insert(0, _coding(ISO21089, "disclose", "Disclose Record Lifecycle Event"))
        profile = "IHE.BasicAudit.PrivacyDisclosure.Source"
    elif event.kind == AuditKind.DECISION:
        subtypes.insert(0, _coding(AUTHZ, "AuthZ-Consent", "Authorization Decision using Roles and Consent"))
        profile = "IHE.BasicAudit.AuthZconsent"
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": event.audit_id,
        "type": _coding(DCM, code, display), "subtype": subtypes, "action": action,
        "recorded": event.recorded_at.isoformat(), "outcome": _outcome(event),
        "agent": _agents(event),
        "source": {"site": "handoff", "observer": {"display": f"handoff {event.stage}"},
                   "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
    }
    if profile:
        resource["meta"] = {"profile": [BALP + profile]}
    if event.outcome not in ("success", ""):
        resource["outcomeDesc"] = event.outcome
    if event.purpose is not None:
        resource["purposeOfEvent"] = [{"coding": [_coding(ACT_REASON, _PURPOSE[event.purpose])],
                                       "text": event.purpose.value}]
    entities = _entities(event)
    if entities:
        resource["entity"] = entities
    return resource


def _agents(event: r.AuditEvent) -> list[dict[str, Any]]:
    actor: dict[str, Any] = {"who": _who(event.actor), "requestor": event.actor.startswith("user:")}
    if event.os_user:
        actor["altId"] = event.os_user
    if event.kind in (AuditKind.DELIVERY_RESULT, AuditKind.DELIVERY_ATTEMPT):
        actor["type"] = {"coding": [_coding(DCM, "110153", "Source Role ID")]}
        recipient = {"type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
                     "who": {"identifier": {"system": "urn:handoff:recipient", "value": event.recipient_id}},
                     "requestor": False}
        return [actor, recipient]
    if event.kind == AuditKind.DECISION:
        actor["type"] = {"coding": [_coding(DCM, "110150", "Application")]}
        recipient = {"type": {"coding": [_coding(PARTICIPATION, "IRCP", "information recipient")]},
                     "who": {"identifier": {"system": "urn:handoff:recipient", "value": event.recipient_id}},
                     "requestor": False}
        if event.purpose is not None:
            recipient["purposeOfUse"] = [{"coding": [_coding(ACT_REASON, _PURPOSE[event.purpose])]}]
        return [actor, recipient]
    return [actor]


def _detail(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"type": k, "valueString": v} for k, v in sorted(pairs.items()) if v]


def _entities(event: r.AuditEvent) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if event.person is not None:
        out.append({"what": {"identifier": {"system": f"{TOKEN_SYSTEM}{event.person.key_version}",
                                            "value": event.person.person_token}},
                    "type": _coding(ENTITY_TYPE, "1", "Person"), "role": _coding(ENTITY_ROLE, "1", "Patient")})
    if event.kind == AuditKind.DECISION:
        consent: dict[str, Any] = {"type": _coding("http://hl7.org/fhir/resource-types", "Consent", "Consent"),
                                   "role": _coding(ENTITY_ROLE, "13", "Security Resource"),
                                   "detail": _detail({"basis": event.basis.value if event.basis else ""})}
        consent["what"] = ({"reference": f"Consent/{event.consent_id}"} if event.consent_id else
                           {"display": f"no consent: basis {event.basis.value if event.basis else 'none'}"})
        out.append({k: v for k, v in consent.items() if v})
    if event.referral_id:
        out.append({"what": {"identifier": {"system": "urn:handoff:referral", "value": event.referral_id}},
                    "type": _coding(ENTITY_TYPE, "2", "System Object"),
                    "role": _coding(ENTITY_ROLE, "4", "Domain Resource"),
                    "detail": _detail({"variant": event.variant.value if event.variant else "",
                                       "basis": event.basis.value if event.basis else "",
                                       "correlation_id": event.correlation_id, "trace_id": event.trace_id})})
    for ref in event.entities:
        out.append({"what": {"identifier": {"system": f"urn:handoff:topic:{ref.topic}", "value": ref.record_id}},
                    "type": _coding(ENTITY_TYPE, "2", "System Object"),
                    "role": _coding(ENTITY_ROLE, "3", "Report"), "detail": _detail({"version": str(ref.version)})})
    if event.detail:
        out.append({"type": _coding(ENTITY_TYPE, "4", "Other"), "description": "event detail",
                    "detail": _detail(event.detail)})
    return [{k: v for k, v in e.items() if v} for e in out]


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A collection Bundle of AuditEvents (for `handoff audit export --bundle`)."""
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{_uuid(res['id'])}", "resource": res} for res in resources]}


def _uuid(audit_id: str) -> str:
    h = (audit_id + "0" * 32)[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
