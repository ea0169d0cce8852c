"""Rendering: the exact bytes a permitted recipient receives. Pure and deterministic.

This first cut renders a FHIR R4 message Bundle (MessageHeader, Task, ServiceRequest,
Patient) for the `full` variant as canonical JSON; ids derive from the referral identity
and revision (STYLE.md §5), so a resend repeats them byte for byte. The rendering issue
adds the BSeR profile, the other variants, HL7 v2 REF^I12/I13/I14 and Direct.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pipeline import records as r
from pipeline.route import Provider
from pipeline.vocab import Format, Variant

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Payload:
    format: Format
    content_type: str
    message_id: str
    body: bytes


def referral_id(request: r.Referral, recipient_id: str) -> str:
    """A referral's identity: (person token, episode, service, recipient)."""
    parts = (request.person.person_token, request.episode_id, request.service.value, recipient_id)
    return "ref-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def render_fhir(request: r.Referral, decision: r.Decision, recipient: Provider) -> Payload:
    if decision.variant != Variant.FULL:
        raise ValueError(f"variant {decision.variant} is not rendered yet")
    ref = decision.referral_id
    message_id = _id(ref, request.revision, "message")
    task_id, sr_id, patient_id = _id(ref, "task"), _id(ref, "service-request"), _id(ref, "patient")
    coding = request.service.coding
    person = request.subject or r.Person()
    patient = {"resourceType": "Patient", "id": patient_id,
               "identifier": [{"system": "urn:handoff:person-token", "value": request.person.person_token}]}
    name = {k: v for k, v in (("family", person.family), ("given", [person.given] if person.given else None)) if v}
    if name:
        patient["name"] = [name]
    if person.birth_date:
        patient["birthDate"] = person.birth_date.isoformat()
    if person.phone:
        patient["telecom"] = [{"system": "phone", "value": person.phone}]
    service_request = {
        "resourceType": "ServiceRequest", "id": sr_id, "status": "active", "intent": "order",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "PLAC"}]}, "system": "urn:handoff:referral", "value": ref}],
        "code": {"coding": [{"system": coding.system, "code": coding.code, "display": coding.display}],
                 "text": request.service.value},
        "subject": {"reference": _ref(patient_id)},
        "performer": [{"reference": f"Organization/{recipient.id}", "display": recipient.name}],
        "reasonCode": [{"text": c.value} for c in request.categories],
    }
    task = {"resourceType": "Task", "id": task_id, "status": "requested", "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": _ref(sr_id)}, "for": {"reference": _ref(patient_id)},
            "owner": {"reference": f"Organization/{recipient.id}"}}
    header = {"resourceType": "MessageHeader", "id": message_id,
              "eventCoding": {"system": "http://terminology.hl7.org/CodeSystem/v2-0003", "code": "I12"},
              "source": {"endpoint": "urn:handoff"},
              "destination": [{"endpoint": recipient.endpoint.address}],
              "focus": [{"reference": _ref(task_id)}]}
    resources = [header, task, service_request, patient]
    bundle = {"resourceType": "Bundle", "id": message_id, "type": "message",
              "timestamp": decision.decided_at.isoformat(),
              "entry": [{"fullUrl": _ref(res["id"]), "resource": res} for res in resources]}
    body = json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode()
    return Payload(Format.FHIR_R4, FHIR_JSON, message_id, body)


def _ref(hex32: str) -> str:
    return f"urn:uuid:{_uuid(hex32)}"


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"
