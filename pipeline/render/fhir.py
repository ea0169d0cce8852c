"""The FHIR R4 (4.0.1) message Bundle, shaped after BSeR STU2 (2.0.0-ballot), as plain data.

Built as dicts and serialised canonically (sorted keys, no spaces, UTF-8): the same Bundle through
the fhir.resources models cost ~11 ms here against ~0.3 ms (bench/render.py), so the models stay
the schema authority in the tests, which validate every Bundle they render and check that the
models' own JSON of it is the same document.

What BSeR (HL7/bser input/fsh, 2.0.0-ballot) asks, and pipeline/render/profile.py checks:

    MessageHeader  event I12 (BSeR fixes it: I13 update / I14 cancel messages do not claim the BSeR
                   message profiles), sender and destination.receiver PractitionerRoles, focus → Task
    Task           fulfill; requested or cancelled; businessStatus; focus → ServiceRequest; for → Patient;
                   requester the initiator's PractitionerRole, owner the recipient's
    ServiceRequest PLAC identifier; order; category and code of the service; occurrencePeriod; reasonCode
                   (SNOMED CT, the category as a second coding); requester / performer PractitionerRoles;
                   supportingInfo → Consent and the Referral Request Document Bundle only
    Patient        identifier, name (or data-absent-reason), gender (unknown when not carried), what the
                   variant allows; Organization and PractitionerRole for both parties
    Bundle (document) Composition (LOINC 57133-1, author the initiator) first, then the Encounter,
                   Conditions (ICD-10-CM with descriptions), Observations (NEMSIS eHistory.17 with labels),
                   MedicationAdministrations (naloxone, dose in UCUM) and what they cite
    Consent        (BSeR PatientConsent when its date is known), Provenance
"""
from __future__ import annotations

import html
import re
from datetime import datetime

import orjson

from pipeline import geo
from pipeline.render import codes, ids
from pipeline.render.content import ICD10CM, RXNORM, Content, clean
from pipeline.vocab import SNOMED, Action, Basis, Purpose

BSER_VERSION = "2.0.0-ballot"  # STU2 ballot: its Task businessStatus codes differ from STU1's
BSER = "http://hl7.org/fhir/us/bser/StructureDefinition/"
PROFILES = {kind: f"{BSER}BSeR-{name}|{BSER_VERSION}" for kind, name in (
    ("Bundle", "ReferralMessageBundle"), ("MessageHeader", "ReferralMessageHeader"), ("Task", "ReferralTask"),
    ("ServiceRequest", "ReferralServiceRequest"), ("DocumentBundle", "ReferralRequestDocumentBundle"),
    ("Composition", "ReferralRequestComposition"), ("Consent", "PatientConsent"))}
FHIR_JSON = "application/fhir+json"
V2_0003 = "http://terminology.hl7.org/CodeSystem/v2-0003"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACTREASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
BUSINESS_STATUS = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS"
LOINC = "http://loinc.org"
EVENTS = {Action.CREATE: ("I12", "REF/RRI - Patient referral"), Action.UPDATE: ("I13", "REF/RRI - Modify patient referral"),
          Action.CANCEL: ("I14", "REF/RRI - Cancel patient referral")}
ACTIVITY = {Action.CREATE: ("CREATE", "create"), Action.UPDATE: ("UPDATE", "revise"), Action.CANCEL: ("CANCEL", "cancel")}
PURPOSE = {Purpose.TREATMENT: "TREAT", Purpose.EMERGENCY_RESPONSE: "ETREAT", Purpose.CARE_COORDINATION: "COC",
           Purpose.OUTREACH: "COC"}
PURPOSE_DISPLAY = {"TREAT": "treatment", "ETREAT": "Emergency Treatment", "COC": "coordination of care"}
GENDER = {"F": "female", "M": "male", "U": "unknown"}
PART2_SECURITY = [{"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
                  {"system": ACTCODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
                  {"system": ACTCODE, "code": "NORDSCLCD", "display": "no redisclosure without consent directive"}]
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
UCUM = codes.UCUM
BCP47 = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
NALOXONE = {"7242": "naloxone"}
# Composition sections of the referral document: LOINC section code, title, which resources
# ((resourceType, is a reason for the referral)) it lists.
SECTIONS = (("42349-1", "Reason for referral (narrative)", {("Condition", True)}),
            ("11450-4", "Problem list - Reported", {("Condition", False)}),
            ("29762-2", "Social history Narrative", {("Observation", False)}),
            ("29549-3", "Medication administered Narrative", {("MedicationAdministration", False)}),
            ("46240-8", "History of Hospitalizations+Outpatient visits Narrative", {("Encounter", False)}))
HIPAA_AUTH_POLICY = "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-E/section-164.508"


def _urn(text: str) -> str:
    """A value safe inside a URN (the systems of local identifiers)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text) or "-"


def _ts(at: datetime) -> str:
    text = at.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _cc(system: str, code: str, display: str = "", text: str = "") -> dict:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding], **({"text": text} if text else {})}


def _ref(uuid: str, display: str = "") -> dict:
    return {"reference": f"urn:uuid:{uuid}", **({"display": display} if display else {})}


def bundle(c: Content) -> dict:
    """The message Bundle for this content (create, update or cancel)."""
    rid = c.referral_id
    u = {k: ids.resource_uuid(rid, k) for k in ("task", "service-request", "patient", "encounter", "consent",
                                                 "provenance")}
    recipient_org, referring_org = ids.organization_uuid(c.recipient.id), ids.organization_uuid(c.referring.id)
    initiator, recipient_role = _role_id(c.referring.id, c.referrer_id or c.referrer_role), _role_id(c.recipient.id)
    u |= {"initiator": initiator, "recipient": recipient_role}
    event, event_display = EVENTS[c.action]
    header = {"resourceType": "MessageHeader", "id": ids.uuid_of(c.message_id, "message-header"),
              "eventCoding": {"system": V2_0003, "code": event, "display": event_display},
              "destination": [{"endpoint": c.destination, "receiver": _ref(recipient_role, c.recipient.name)}],
              "sender": _ref(initiator, c.referring.name), "source": {"name": "Handoff", "endpoint": "urn:handoff:render"},
              "focus": [_ref(u["task"])]}
    if c.action == Action.CREATE:  # BSeR fixes the event to I12: an update or a cancel does not claim it
        header["meta"] = {"profile": [PROFILES["MessageHeader"]]}
    document = _document(c, u, referring_org) if c.encounter is not None else None
    resources = [header, _task(c, u), _service_request(c, u, document), _patient(c, u["patient"]),
                 _initiator(c, initiator, referring_org), _organization(referring_org, c.referring.id, c.referring.name)]
    if recipient_role != initiator:
        resources.append(_role(recipient_role, recipient_org, c.recipient.id, "Referral recipient"))
    if recipient_org != referring_org:
        resources.append(_organization(recipient_org, c.recipient.id, c.recipient.name))
    if _consent_basis(c):
        resources.append(_consent(c, u, recipient_org, referring_org))
    if document is not None:
        resources.append(document)
    resources.append(_provenance(c, u))
    if c.part2:
        _label(resources)
    message = {"resourceType": "Bundle", "id": ids.uuid_of(c.message_id, "bundle"),
               "meta": {**({"profile": [PROFILES["Bundle"]]} if c.action == Action.CREATE else {}),
                        **({"security": PART2_SECURITY} if c.part2 else {})},
               "identifier": {"system": "urn:handoff:message", "value": c.message_id}, "type": "message",
               "timestamp": _ts(c.sent_at), "entry": _entries(resources)}
    if not message["meta"]:
        del message["meta"]
    return message


def _entries(resources: list[dict]) -> list[dict]:
    return [{"fullUrl": f"urn:uuid:{res['id']}", "resource": res} for res in resources]


def _label(resources: list[dict]) -> None:
    """Part 2 content: every resource, and every resource of a nested document, carries the labels."""
    for res in resources:
        res.setdefault("meta", {})["security"] = PART2_SECURITY
        if res["resourceType"] == "Bundle":
            _label([e["resource"] for e in res["entry"]])


def _role_id(org_id: str, who: str = "") -> str:
    """A PractitionerRole's id: the organisation's (and the referring person's) role, the same in
    every referral that names it."""
    return ids.uuid_of("practitioner-role", org_id, who)


def _role(uuid: str, org_uuid: str, org_id: str, text: str) -> dict:
    return {"resourceType": "PractitionerRole", "id": uuid, "active": True,
            "identifier": [{"system": "urn:handoff:practitioner-role", "value": _urn(org_id)}],
            "organization": _ref(org_uuid), "code": [{"text": text}]}


def _initiator(c: Content, uuid: str, referring_org: str) -> dict:
    """The Referral Initiator: the referring person's role when a field referral names one, else
    the referring agency acting through its role (BSeR wants a PractitionerRole, not an Organization)."""
    role = _role(uuid, referring_org, c.referring.id, c.referrer_role or "Referring agency")
    if c.referrer_id:
        role["identifier"] = [{"system": f"urn:handoff:referrer:{_urn(c.referring.id)}", "value": c.referrer_id}]
    return role


def serialise(message: dict) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8): the same Bundle is the same bytes. orjson:
    ~12 µs for a 20 kB Bundle here against ~200 µs for the standard library's json."""
    return orjson.dumps(message, option=orjson.OPT_SORT_KEYS)


def _task(c: Content, u: dict) -> dict:
    cancelled = c.action == Action.CANCEL
    task = {"resourceType": "Task", "id": u["task"], "meta": {"profile": [PROFILES["Task"]]},
            "identifier": [{"type": _cc(V2_0203, "PLAC", "Placer Identifier"), "system": "urn:handoff:referral",
                            "value": c.referral_id}],
            "status": "cancelled" if cancelled else "requested", "intent": "order",
            "businessStatus": _cc(BUSINESS_STATUS, *(("6.0", "Service Request Fulfillment Cancelled") if cancelled
                                                    else ("2.0", "Service Request Created"))),
            "code": _cc("http://hl7.org/fhir/CodeSystem/task-code", "fulfill", "Fulfill the focal request"),
            "focus": _ref(u["service-request"]), "for": _ref(u["patient"]), "authoredOn": _ts(c.authored_at),
            "lastModified": _ts(c.sent_at), "requester": _ref(u["initiator"], c.referring.name),
            "owner": _ref(u["recipient"], c.recipient.name), "priority": c.priority}
    if cancelled:
        task["statusReason"] = {"text": c.cancel_reason}
    return task


def _service_request(c: Content, u: dict, document: dict | None) -> dict:
    sr = {"resourceType": "ServiceRequest", "id": u["service-request"],
          "meta": {"profile": [PROFILES["ServiceRequest"]]},
          "identifier": [{"type": _cc(V2_0203, "PLAC", "Placer Identifier"), "system": "urn:handoff:referral",
                          "value": c.referral_id}],
          "status": "revoked" if c.action == Action.CANCEL else "active", "intent": "order",
          "category": [_cc(SNOMED, "3457005", "Patient referral")],
          "code": _cc(c.service.system, c.service.code, c.service.display, c.service_text or c.service.display),
          "priority": c.priority, "subject": _ref(u["patient"]), "authoredOn": _ts(c.authored_at),
          "occurrencePeriod": {"start": _ts(c.authored_at)},  # from the referral on; the recipient schedules
          "requester": _ref(u["initiator"], c.referring.name), "performer": [_ref(u["recipient"], c.recipient.name)]}
    if c.categories:  # SNOMED CT first, Handoff's category kept as the second coding
        sr["reasonCode"] = [{"coding": [{"system": SNOMED, "code": code, "display": display},
                                        {"system": codes.CATEGORY_SYSTEM, "code": cat.value,
                                         "display": codes.category_display(cat)}], "text": display}
                            for cat in c.categories for code, display in [codes.category_coding(cat)]]
    support = ([_ref(u["consent"])] if _consent_basis(c) else []) + ([_ref(document["id"])] if document else [])
    if support:  # BSeR: supportingInfo is a Consent or the Referral Request Document Bundle, nothing else
        sr["supportingInfo"] = support
    notes = [text for text in (c.note, c.notice, c.consent_scope and f"Consent scope: {c.consent_scope}",
                               c.cancel_reason and f"Cancelled: {c.cancel_reason}") if text]
    if notes:
        sr["note"] = [{"text": text} for text in notes]
    return sr


def _patient(c: Content, uuid: str) -> dict:
    """US Core / BSeR Patient: an identifier, a name (or why it is absent), a gender (unknown when
    the variant carries none), and what the variant allows."""
    p = c.patient
    patient = {"resourceType": "Patient", "id": uuid,
               "identifier": [{"use": "secondary", "system": "urn:handoff:patient-link", "value": c.link}],
               "gender": GENDER.get(p.sex, "unknown")}
    name = {k: v for k, v in (("family", p.family), ("given", [g for g in (p.given, p.middle) if g])) if v}
    patient["name"] = [name or {"extension": [{"url": DATA_ABSENT, "valueCode": "masked" if c.action == Action.CANCEL
                                               else "unknown"}]}]
    if p.phone:
        patient["telecom"] = [{"system": "phone", "value": p.phone}]
    if p.birth_date:
        patient["birthDate"] = p.birth_date.isoformat()
    a = p.address
    state = geo.state_abbr(a.state) if a is not None else ""
    if a is not None and any((a.street, a.city, state, a.zip, a.county)):
        address = {k: v for k, v in (("city", "" if a.city.strip().isdigit() else a.city), ("district", a.county),
                                     ("state", state), ("postalCode", a.zip)) if v}
        if a.street:
            address["line"] = [a.street]
        if address:
            patient["address"] = [address]
    if p.language and BCP47.fullmatch(p.language):
        patient["communication"] = [{"language": _cc("urn:ietf:bcp:47", p.language,
                                                     codes.language_name(p.language) or p.language)}]
    return patient


def _organization(uuid: str, org_id: str, name: str) -> dict:
    return {"resourceType": "Organization", "id": uuid, "active": True,
            "identifier": [{"system": "urn:handoff:organization", "value": org_id}], "name": name}


def _document(c: Content, u: dict, referring_org: str) -> dict:
    """The BSeR Referral Request Document Bundle: a Composition (author the initiator's role) whose
    sections list the EMS encounter, the findings, the alcohol/drug indicators and the medications
    given, with the resources they cite (the Patient, the author and its organisation included, so
    every reference resolves inside the document)."""
    subject, encounter_ref = _ref(u["patient"]), _ref(u["encounter"])
    clinical = _clinical(c, u, referring_org)
    sections = []
    for code, display, kinds in SECTIONS:
        found = [res for res in clinical if (res["resourceType"], _is_reason(c, res)) in kinds]
        if found:
            sections.append({"title": display, "code": _cc(LOINC, code, display),
                             "text": _narrative("; ".join(_says(res) for res in found)),
                             "entry": [_ref(res["id"]) for res in found]})
    composition = {"resourceType": "Composition", "id": ids.uuid_of(c.message_id, "composition"),
                   "meta": {"profile": [PROFILES["Composition"]]}, "status": "final",
                   "type": _cc(LOINC, "57133-1", "Referral note"), "subject": subject, "encounter": encounter_ref,
                   "date": _ts(c.sent_at), "author": [_ref(u["initiator"], c.referring.name)],
                   "title": "EMS referral: supporting information", "section": sections}
    members = [composition, _patient(c, u["patient"]), _initiator(c, u["initiator"], referring_org),
               _organization(referring_org, c.referring.id, c.referring.name), *clinical]
    return {"resourceType": "Bundle", "id": ids.uuid_of(c.message_id, "document"),
            "meta": {"profile": [PROFILES["DocumentBundle"]]},
            "identifier": {"system": "urn:handoff:document", "value": c.message_id}, "type": "document",
            "timestamp": _ts(c.sent_at), "entry": _entries(members)}


def _is_reason(c: Content, res: dict) -> bool:
    return res["resourceType"] == "Condition" and any(
        f.reason and res["code"]["coding"][0]["code"] == f.code for f in c.findings)


def _says(res: dict) -> str:
    """One line of a section's narrative: what the entry's codes say."""
    kind = res["resourceType"]
    if kind == "Encounter":
        return "EMS response" + (f" {res['period']['start']}" if "period" in res else "")
    concept = res.get("code") if kind == "Condition" else res.get("valueCodeableConcept") or res.get(
        "medicationCodeableConcept")
    coding = concept["coding"][0]
    return f"{coding.get('display', '')} ({coding['code']})"


def _narrative(text: str) -> dict:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(text)}</p></div>'}


def _clinical(c: Content, u: dict, referring_org: str) -> list[dict]:
    e, subject = c.encounter, _ref(u["patient"])
    encounter = {"resourceType": "Encounter", "id": u["encounter"], "status": "finished",
                 "class": {"system": ACTCODE, "code": "EMER", "display": "emergency"},
                 "type": [{"text": "EMS response"}],
                 "subject": subject, "serviceProvider": _ref(referring_org)}
    number = clean(e.incident.incident_number, 100) if e.incident else ""
    identifiers = [{"system": f"urn:handoff:incident:{_urn(e.incident.dispatch_centre)}", "value": number}
                   ] if number else []
    identifiers += [{"system": f"urn:handoff:pcr:{_urn(c.referring.id)}", "value": pcr} for pcr in e.pcr_numbers if pcr]
    if identifiers:
        encounter["identifier"] = identifiers
    if e.start is not None:
        encounter["period"] = {"start": _ts(e.start), "end": _ts(e.end or e.start)}
    out = [encounter]
    for f in c.findings:
        out.append({"resourceType": "Condition", "id": ids.resource_uuid(c.referral_id, "condition", f.code),
                    "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active",
                                          "Active"),
                    "verificationStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                              "provisional", "Provisional"),
                    "category": [_cc("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis",
                                     "Encounter Diagnosis", text=f"EMS {f.role}")],
                    "code": _cc(ICD10CM, f.code, f.display, f.display), "subject": subject,
                    "encounter": _ref(u["encounter"])})
    for code in c.indicators:
        label = codes.nemsis_label("eHistory.17", code) or f"NEMSIS value {code}"
        out.append({"resourceType": "Observation", "id": ids.resource_uuid(c.referral_id, "indicator", code),
                    "status": "final",
                    "category": [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "social-history",
                                     "Social History")],
                    "code": _cc(codes.NEMSIS_SYSTEM + "element", "eHistory.17", "Alcohol/Drug Use Indicators",
                                "Alcohol/drug use indicator"),
                    "subject": subject, "encounter": _ref(u["encounter"]),
                    "valueCodeableConcept": _cc(codes.NEMSIS_SYSTEM + "eHistory.17", code, label, label)})
    for n, m in enumerate(c.naloxone):
        out.append(_naloxone(c, u, n, m))
    return out


def _naloxone(c: Content, u: dict, n: int, m) -> dict:
    given = {"resourceType": "MedicationAdministration", "id": ids.resource_uuid(c.referral_id, "naloxone", n),
             "status": "completed", "medicationCodeableConcept": _cc(RXNORM, m.code, NALOXONE.get(m.code, "naloxone")),
             "subject": _ref(u["patient"]), "context": _ref(u["encounter"]), "effectiveDateTime": _ts(m.given_at)}
    unit = codes.dose_unit(m.dose_unit) if m.dose is not None else None
    dosage = {}
    if m.route:
        dosage["route"] = _cc(SNOMED, m.route[0], m.route[1])
    if unit is not None:  # eMedications.05/.06, in UCUM where UCUM has the unit
        dosage["dose"] = {"value": m.dose, "unit": unit[1], **({"system": UCUM, "code": unit[0]} if unit[0] else {})}
    elif dosage:  # mad-1 wants a dose or a rate: the record has none, so its absence is stated
        dosage["dose"] = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
    if dosage:
        given["dosage"] = dosage
    notes = ([f"response: {m.response}"] if m.response else []) + (
        ["given before EMS arrival" + (f" by {codes.nemsis_label('eMedications.10', m.administered_by).lower()}"
                                       if codes.nemsis_label("eMedications.10", m.administered_by) else "")]
        if m.given_prior else [])
    if notes:
        given["note"] = [{"text": t} for t in notes]
    return given


def _consent_basis(c: Content) -> bool:
    return bool(c.consent_id) and c.basis in (Basis.PART2_CONSENT, Basis.HIPAA_AUTHORIZATION)


def _consent(c: Content, u: dict, recipient_org: str, referring_org: str) -> dict:
    scope = c.consent_scope or f"Consent {c.consent_id} ({c.basis.value})"
    consent = {"resourceType": "Consent", "id": u["consent"],
               "text": {"status": "additional",
                        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(scope)}</p></div>'},
               "identifier": [{"system": "urn:handoff:consent", "value": c.consent_id}], "status": "active",
               "scope": _cc("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", "Privacy Consent"),
               "category": [_cc(LOINC, "59284-0", "Patient Consent")], "patient": _ref(u["patient"]),
               "performer": [_ref(u["patient"])], "organization": [_ref(referring_org)],
               "provision": {"type": "permit",
                             "actor": [{"role": _cc("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                    "IRCP", "information recipient"),
                                        "reference": _ref(recipient_org)}],
                             "purpose": [{"system": ACTREASON, "code": PURPOSE[c.purpose],
                                          "display": PURPOSE_DISPLAY[PURPOSE[c.purpose]]}]}}
    if c.consent_signed_at is not None:  # BSeR PatientConsent wants dateTime: claimed only when it is known
        consent["dateTime"] = _ts(c.consent_signed_at)
        consent["meta"] = {"profile": [PROFILES["Consent"]]}
    if c.basis == Basis.PART2_CONSENT:
        consent["policyRule"] = _cc(ACTCODE, "42CFRPart2", "42 CFR Part2")
    else:
        consent["policy"] = [{"uri": HIPAA_AUTH_POLICY}]
    return consent


def _provenance(c: Content, u: dict) -> dict:
    prov = {"resourceType": "Provenance", "id": ids.uuid_of(c.message_id, "provenance"),
            "target": [_ref(u["task"]), _ref(u["service-request"])], "recorded": _ts(c.sent_at),
            "activity": _cc("http://terminology.hl7.org/CodeSystem/v3-DataOperation", *ACTIVITY[c.action]),
            "reason": [_cc(ACTREASON, PURPOSE[c.purpose], PURPOSE_DISPLAY[PURPOSE[c.purpose]])],
            "agent": [{"type": _cc("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author",
                                   "Author"), "who": _ref(u["initiator"], c.referring.name)}]}
    if c.policy_version:
        prov["policy"] = [f"urn:handoff:policy:{_urn(c.policy_version)}"]
    entities = [{"role": "source", "what": {"identifier": {"system": f"urn:handoff:{_urn(s.topic)}", "value": rec},
                                            "display": f"{s.topic} {rec} v{s.version}"}}
                for s in c.sources for rec in [clean(s.record_id, 200)] if rec]
    if entities:
        prov["entity"] = entities
    return prov
