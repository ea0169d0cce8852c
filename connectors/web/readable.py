"""A delivered FHIR message Bundle, read for a person: pure, from exactly the delivered bytes.

    summary = read_bundle(payload)   # Summary; ReadError when the bytes are not a FHIR message Bundle

Nothing is looked up elsewhere: what the page shows is what the provider received. The
42 CFR 2.32 notice is the note the Part 2 labels came with; the redisclosure statement is
shown with every referral (REDISCLOSURE), since every one was disclosed for one purpose.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

PART2 = "42CFRPart2"
EVENTS = {"I12": "new referral", "I13": "updated referral", "I14": "referral cancelled"}
PURPOSES = {"TREAT": "treatment", "ETREAT": "emergency treatment", "COC": "care coordination"}
REDISCLOSURE = ("This referral was disclosed to your organisation for the purpose stated, on the legal basis "
                "stated. Use it only for that purpose and do not disclose it further, except as the law that "
                "protects it allows (HIPAA, 45 CFR 164.502 and 164.508; for records marked 42 CFR Part 2, "
                "only as the notice shown permits).")


class ReadError(ValueError):
    pass


@dataclass
class Summary:
    event: str = ""
    referral_id: str = ""
    task_status: str = ""
    status_reason: str = ""
    sent_at: str = ""
    service: str = ""
    priority: str = ""
    reasons: list[str] = field(default_factory=list)
    referring: str = ""
    referrer_role: str = ""
    person: list[tuple[str, str]] = field(default_factory=list)  # (label, value)
    incident: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    naloxone: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    part2: bool = False
    notice: str = ""
    consent: str = ""
    purpose: str = ""
    labels: list[str] = field(default_factory=list)


def _text(concept: dict | None) -> str:
    if not concept:
        return ""
    coding = (concept.get("coding") or [{}])[0]
    return concept.get("text") or coding.get("display") or coding.get("code", "")


def _strip_div(div: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", div).split())


def read_bundle(payload: bytes) -> Summary:
    try:
        bundle = json.loads(payload)
    except ValueError:
        raise ReadError("the delivered payload is not JSON") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "message":
        raise ReadError("the delivered payload is not a FHIR message Bundle")
    by_type: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for entry in bundle.get("entry", []):
        res = entry.get("resource") or {}
        # the clinical resources sit in the referral's document Bundle (BSeR supportingInfo), each once
        for inner in [res, *((e.get("resource") or {}) for e in res.get("entry", []))] \
                if res.get("resourceType") == "Bundle" else [res]:
            if inner.get("resourceType") != "Bundle" and inner.get("id", id(inner)) not in seen:
                seen.add(inner.get("id", id(inner)))
                by_type.setdefault(inner.get("resourceType", ""), []).append(inner)
    one = lambda kind: (by_type.get(kind) or [{}])[0]  # noqa: E731
    s = Summary(sent_at=bundle.get("timestamp", ""))
    s.labels = [sec.get("display") or sec.get("code", "") for sec in bundle.get("meta", {}).get("security", [])]
    s.part2 = any(sec.get("code") == PART2 for sec in bundle.get("meta", {}).get("security", []))
    s.event = EVENTS.get(one("MessageHeader").get("eventCoding", {}).get("code", ""), "message")
    task, sr = one("Task"), one("ServiceRequest")
    s.referral_id = next((i.get("value", "") for i in task.get("identifier", [])), "")
    s.task_status, s.status_reason = task.get("status", ""), (task.get("statusReason") or {}).get("text", "")
    s.service, s.priority = _text(sr.get("code")), sr.get("priority", "")
    s.reasons = [_text(c) for c in sr.get("reasonCode", [])]
    s.referring = (sr.get("requester") or {}).get("display", "") or _organisation_name(by_type, one("MessageHeader"))
    s.referrer_role = next((_text(c) for role in by_type.get("PractitionerRole", []) for c in role.get("code", [])), "")
    s.person = _person(one("Patient"))
    s.incident = [f"{i.get('value', '')} ({i.get('system', '').rsplit(':', 1)[-1]})"
                  for e in by_type.get("Encounter", []) for i in e.get("identifier", [])]
    s.findings = [f"{_text(c.get('code'))} ({_text((c.get('category') or [{}])[0])})"
                  for c in by_type.get("Condition", [])]
    s.indicators = [_text(o.get("valueCodeableConcept")) for o in by_type.get("Observation", [])]
    s.naloxone = [f"given {m.get('effectiveDateTime', '')}"
                  + "".join(f"; {n.get('text', '')}" for n in m.get("note", []))
                  for m in by_type.get("MedicationAdministration", [])]
    notes = [n.get("text", "") for n in sr.get("note", [])]
    notice = [n for n in notes if "42 cfr part 2" in n.lower()] if s.part2 else []
    s.notice = notice[0] if notice else ""
    s.notes = [n for n in notes if n != s.notice]
    consent = one("Consent")
    s.consent = _strip_div((consent.get("text") or {}).get("div", "")) if consent else ""
    if s.consent:  # the scope note repeats the Consent's text
        s.notes = [n for n in s.notes if n != f"Consent scope: {s.consent}"]
    reason = next((c.get("code", "") for p in by_type.get("Provenance", []) for r in p.get("reason", [])
                   for c in r.get("coding", [])), "")
    s.purpose = PURPOSES.get(reason, reason)
    return s


def _organisation_name(by_type: dict, header: dict) -> str:
    sender = (header.get("sender") or {}).get("reference", "").removeprefix("urn:uuid:")
    return next((o.get("name", "") for o in by_type.get("Organization", []) if o.get("id") == sender), "")


def _person(p: dict) -> list[tuple[str, str]]:
    name = (p.get("name") or [{}])[0]
    full = " ".join([*name.get("given", []), name.get("family", "")]).strip()
    address = (p.get("address") or [{}])[0]
    where = ", ".join(x for x in [*address.get("line", []), address.get("city", ""), address.get("state", ""),
                                  address.get("postalCode", "")] if x)
    rows = [("Name", full or "(not given)"), ("Born", p.get("birthDate", "")), ("Sex", p.get("gender", "")),
            ("Phone", next((t.get("value", "") for t in p.get("telecom", [])), "")), ("Address", where),
            ("Language", next((_text(c.get("language")) for c in p.get("communication", [])), ""))]
    return [(label, value) for label, value in rows if value]
