"""The FHIR R4 Consent resource (Part 2 shape, DOMAIN.md §4) to and from the registry's record.

    person, consent = from_fhir(resource)       # raises ConsentError with the reason
    resource = to_fhir(person, consent)

Conventions (Handoff profile):
- patient.identifier: system `urn:handoff:person-token:v<key version>`, value the token;
- policyRule coding (ActCode) `42CFRPart2` → a Part 2 consent, `HIPAAAuth` → a HIPAA authorisation;
- provision.actor with role IRCP: reference `Organization/<recipient id>`, or an identifier of system
  `urn:handoff:general-designation` (e.g. "my treating providers", treatment only);
- provision.purpose: ActReason TREAT / COC / ETREAT, or system `urn:handoff:purpose` with our words;
- provision.securityLabel: ActCode ETH (SUD), PSY or BH (mental health), or `urn:handoff:data-category`;
  `general` is always included when any label is;
- dateTime + sourceAttachment (the signed form): the signature and its date;
- extension `urn:handoff:consent-missing` (valueString, repeated): 2.31 elements the form still lacks;
- provision.actor IRCP with an identifier of system `urn:handoff:recipient-class` (a HIPAA
  authorisation's class of recipients, e.g. `other`);
- extensions `urn:handoff:consent-signed-by` (valueCode, repeated: patient, guardian,
  personal-representative; absent: patient), `urn:handoff:consent-signer` (valueString: who signed
  for the person, a reference), `urn:handoff:consent-expiry-event` (valueString: the expiry event,
  or "none" for a TPO consent) and `urn:handoff:consent-tpo` (valueBoolean: a single consent for
  treatment, payment and health-care operations).
"""
from __future__ import annotations

from datetime import datetime

from pipeline import records as r
from pipeline.consent.registry import ConsentError
from pipeline.vocab import ConsentKind, ConsentStatus, DataCategory, Purpose, SignerCapacity

TOKEN_SYSTEM = "urn:handoff:person-token:v"
GENERAL = "urn:handoff:general-designation"
MISSING = "urn:handoff:consent-missing"
CLASS = "urn:handoff:recipient-class"
SIGNED_BY, SIGNER = "urn:handoff:consent-signed-by", "urn:handoff:consent-signer"
EXPIRY_EVENT, TPO = "urn:handoff:consent-expiry-event", "urn:handoff:consent-tpo"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
POLICY = {"42CFRPart2": ConsentKind.PART2, "HIPAAAuth": ConsentKind.HIPAA_AUTHORIZATION}
PURPOSE = {"TREAT": Purpose.TREATMENT, "COC": Purpose.CARE_COORDINATION, "ETREAT": Purpose.EMERGENCY_RESPONSE}
LABEL = {"ETH": DataCategory.SUD, "PSY": DataCategory.MENTAL_HEALTH, "BH": DataCategory.MENTAL_HEALTH}


def _when(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConsentError(f"{field}: not a dateTime") from None
    if value.tzinfo is None:
        raise ConsentError(f"{field}: needs a UTC offset")
    return value


def _codes(concepts: list[dict]) -> list[tuple[str, str]]:
    return [(c.get("system", ""), c.get("code", "")) for concept in concepts
            for c in (concept.get("coding", []) if "coding" in concept else [concept])]


def from_fhir(resource: dict) -> tuple[r.PersonKey, r.ConsentRecord]:
    """The registry's record of a FHIR Consent; ConsentError (with the reason) for anything else."""
    try:
        return _from_fhir(resource)
    except ConsentError:
        raise
    except (AttributeError, TypeError, KeyError, ValueError) as error:  # an element of the wrong JSON type
        raise ConsentError(f"not a FHIR Consent of the expected shape ({type(error).__name__})") from None


def _from_fhir(resource: dict) -> tuple[r.PersonKey, r.ConsentRecord]:
    if not isinstance(resource, dict) or resource.get("resourceType") != "Consent":
        raise ConsentError("not a FHIR Consent resource")
    if not resource.get("id"):
        raise ConsentError("Consent.id is required (the registry's key)")
    ident = (resource.get("patient") or {}).get("identifier") or {}
    system = ident.get("system", "")
    if not system.startswith(TOKEN_SYSTEM) or not system[len(TOKEN_SYSTEM):].isdigit() or not ident.get("value"):
        raise ConsentError(f"patient.identifier must be a person token ({TOKEN_SYSTEM}<n>)")
    person = r.PersonKey(person_token=ident["value"], key_version=int(system[len(TOKEN_SYSTEM):]))
    try:
        status = ConsentStatus(resource.get("status", ""))
    except ValueError:
        raise ConsentError(f"status {resource.get('status')!r} is not a Consent status") from None
    kinds = {POLICY[code] for _, code in _codes(resource.get("policyRule") and [resource["policyRule"]] or [])
             if code in POLICY}
    if len(kinds) != 1:
        raise ConsentError("policyRule must be ActCode 42CFRPart2 or HIPAAAuth")
    provision = resource.get("provision") or {}
    if provision.get("type", "permit") != "permit":
        raise ConsentError("only a permit provision is supported (nested denies: not yet)")
    recipients, classes, general = [], [], False
    for actor in provision.get("actor", []):
        if not any(code == "IRCP" for _, code in _codes([actor.get("role", {})])):
            continue
        ref = actor.get("reference") or {}
        if (ref.get("identifier") or {}).get("system") == GENERAL:
            general = True
        elif (ref.get("identifier") or {}).get("system") == CLASS and ref["identifier"].get("value"):
            classes.append(str(ref["identifier"]["value"]))
        elif ref.get("reference", "").startswith("Organization/"):
            recipients.append(ref["reference"].removeprefix("Organization/"))
    purposes = []
    for system, code in _codes(provision.get("purpose", [])):
        purpose = PURPOSE.get(code) if system in ("", ACT_REASON) else \
            (Purpose(code) if system == "urn:handoff:purpose" and code in Purpose._value2member_map_ else None)
        if purpose is None:
            raise ConsentError(f"provision.purpose {code!r} is not supported")
        purposes.append(purpose)
    cats = set()
    for system, code in _codes(provision.get("securityLabel", [])):
        cat = LABEL.get(code) if system in ("", ACT_CODE) else \
            (DataCategory(code) if system == "urn:handoff:data-category" and code in DataCategory._value2member_map_
             else None)
        if cat is None:
            raise ConsentError(f"provision.securityLabel {code!r} is not supported")
        cats.add(cat)
    if cats:
        cats.add(DataCategory.GENERAL)
    period = provision.get("period") or {}
    attachment = resource.get("sourceAttachment") or {}
    artefact = attachment.get("url") or (f"inline:{attachment.get('title', 'form')}" if attachment.get("data") else "")
    signed = _when(resource.get("dateTime"), "dateTime") if artefact else None
    extensions = resource.get("extension", [])
    missing = [e.get("valueString", "") for e in extensions if e.get("url") == MISSING]
    try:
        signed_by = [SignerCapacity(e.get("valueCode", "")) for e in extensions if e.get("url") == SIGNED_BY]
    except ValueError:
        raise ConsentError(f"{SIGNED_BY}: not one of {', '.join(c.value for c in SignerCapacity)}") from None
    signer = next((str(e.get("valueString", "")) for e in extensions if e.get("url") == SIGNER), "")
    event = next((str(e.get("valueString", "")) for e in extensions if e.get("url") == EXPIRY_EVENT), "")
    tpo = any(e.get("valueBoolean") is True for e in extensions if e.get("url") == TPO)
    consent = r.ConsentRecord(
        consent_id=resource["id"], kind=kinds.pop(), status=status, recipients=sorted(set(recipients)),
        general_designation=general, purposes=sorted(set(purposes)), data_categories=sorted(cats),
        period_start=_when(period.get("start"), "provision.period.start"),
        period_end=_when(period.get("end"), "provision.period.end"), signed_at=signed, artefact_ref=artefact,
        missing_elements=[m for m in missing if m], recipient_classes=sorted(set(classes)),
        signed_by=signed_by or [SignerCapacity.PATIENT], signer=signer, expiry_event=event, tpo=tpo)
    return person, consent


def to_fhir(person: r.PersonKey, consent: r.ConsentRecord) -> dict:
    """The registry's record as a Consent resource (for `show` and GET)."""
    code = next(k for k, v in POLICY.items() if v == consent.kind)
    actors = [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                    "code": "IRCP"}]}, "reference": {"reference": f"Organization/{rid}"}}
              for rid in consent.recipients]
    if consent.general_designation:
        actors.append({"role": {"coding": [{"code": "IRCP"}]},
                       "reference": {"identifier": {"system": GENERAL, "value": "treating-providers"}}})
    actors += [{"role": {"coding": [{"code": "IRCP"}]}, "reference": {"identifier": {"system": CLASS, "value": c}}}
               for c in consent.recipient_classes]
    provision = {"type": "permit", "actor": actors,
                 "purpose": [{"system": "urn:handoff:purpose", "code": p.value} for p in consent.purposes],
                 "securityLabel": [{"system": "urn:handoff:data-category", "code": c.value}
                                   for c in consent.data_categories]}
    period = {k: v.isoformat() for k, v in (("start", consent.period_start), ("end", consent.period_end)) if v}
    if period:
        provision["period"] = period
    resource = {
        "resourceType": "Consent", "id": consent.consent_id, "status": consent.status.value,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": f"{TOKEN_SYSTEM}{person.key_version}", "value": person.person_token}},
        "policyRule": {"coding": [{"system": ACT_CODE, "code": code}]}, "provision": provision}
    if consent.signed_at:
        resource["dateTime"] = consent.signed_at.isoformat()
    if consent.artefact_ref:
        resource["sourceAttachment"] = {"url": consent.artefact_ref}
    extensions = [{"url": MISSING, "valueString": m} for m in consent.missing_elements]
    extensions += [{"url": SIGNED_BY, "valueCode": c.value} for c in consent.signed_by]
    extensions += [{"url": SIGNER, "valueString": consent.signer}] if consent.signer else []
    extensions += [{"url": EXPIRY_EVENT, "valueString": consent.expiry_event}] if consent.expiry_event else []
    extensions += [{"url": TPO, "valueBoolean": True}] if consent.tpo else []
    if extensions:
        resource["extension"] = extensions
    return resource
