"""Profile checks for a rendered message Bundle: every constraint of the profiles it claims that
applies to what Handoff sends, each citing the rule it checks, plus the project's own rules.

BSeR 2.0.0-ballot (HL7/bser, input/fsh/profiles: BSeRReferralMessageBundle, BSeRReferralMessageHeader,
ReferralTask + BSeRReferralTask, ReferralServiceRequest + BSeRReferralServiceRequest,
BSeRReferralRequestDocumentBundle, BSeRReferralRequestComposition, BSeRPatientConsent, BSeRPatient on
US Core 5.0.1 Patient) cannot be fetched here as a package, so HAPI (base R4 only) cannot check it;
these checks stand in for it. Base R4 invariants are cited by their keys (bdl-9, mad-1, ...).

    problems(bundle)              -> list of "RULE: reason" (empty: conforms)
    leaks(bundle, carries)        -> codes that reveal a data category the variant does not carry
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from pipeline.render.codes import CATEGORY_SYSTEM, UCUM
from pipeline.render.content import ICD10CM, RXNORM, load_sensitivity
from pipeline.render.fhir import (ACTCODE, BCP47, BUSINESS_STATUS, CONFIDENTIALITY, DATA_ABSENT, LOINC, PART2_SECURITY,
                                  PROFILES, V2_0003, V2_0203)
from pipeline.vocab import SNOMED, DataCategory

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
USPS = re.compile(r"[A-Z]{2}")
Resource = dict[str, Any]
Check = Callable[[Resource, "Context"], Iterator[str]]


class Context:
    """The Bundle a resource sits in: fullUrl -> resource, for reference targets."""

    def __init__(self, bundle: Resource, part2: bool):
        self.urls = {e.get("fullUrl"): e.get("resource", {}) for e in bundle.get("entry", [])}
        self.part2 = part2

    def kind(self, ref: str) -> str:
        return self.urls.get(ref, {}).get("resourceType", "")

    def target(self, ref: str) -> Resource:
        return self.urls.get(ref, {})


def _refs(value: Any) -> list[str]:
    return [v["reference"] for v in (value if isinstance(value, list) else [value])
            if isinstance(v, dict) and "reference" in v]


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            elif not (key == "resource" and isinstance(value, dict) and value.get("resourceType") == "Bundle"):
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _codings(node: Any) -> Iterator[dict]:
    """Every Coding under a node (CodeableConcepts' codings and bare Codings), not into nested Bundles."""
    if isinstance(node, dict):
        if "system" in node and "code" in node and "value" not in node:  # a Coding, not a Quantity
            yield node
        for key, value in node.items():
            if not (key == "resource" and isinstance(value, dict) and value.get("resourceType") == "Bundle"):
                yield from _codings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _codings(item)


def _only(element: str, *kinds: str, rule: str) -> Check:
    """`element only Reference(kinds)`, and the reference resolves inside the Bundle."""
    def check(res: Resource, ctx: Context) -> Iterator[str]:
        for ref in _refs(res.get(element)):
            if ctx.kind(ref) not in kinds:
                yield f"{rule}: {res['resourceType']}.{element} points at a {ctx.kind(ref) or 'missing resource'}, " \
                      f"not a {' or '.join(kinds)}"
    return check


def _required(*elements: str, rule: str) -> Check:
    def check(res: Resource, ctx: Context) -> Iterator[str]:
        for element in elements:
            if res.get(element) in (None, "", [], {}):
                yield f"{rule}: {res['resourceType']}.{element} is missing"
    return check


def _system(element: str, system: str, rule: str) -> Check:
    def check(res: Resource, ctx: Context) -> Iterator[str]:
        if element in res:
            codings = list(_codings(res[element]))
            if not codings or codings[0].get("system") != system:
                yield f"{rule}: {res['resourceType']}.{element} is not coded in {system}"
    return check


def _fixed(element: str, system: str, code: str, rule: str) -> Check:
    def check(res: Resource, ctx: Context) -> Iterator[str]:
        if not any(c.get("system") == system and c.get("code") == code for c in _codings(res.get(element))):
            yield f"{rule}: {res['resourceType']}.{element} is not {code}"
    return check


def _plac(rule: str) -> Check:
    def check(res: Resource, ctx: Context) -> Iterator[str]:
        if not any(any(c.get("system") == V2_0203 and c.get("code") == "PLAC" for c in _codings(i.get("type")))
                   and i.get("value") for i in res.get("identifier", [])):
            yield f"{rule}: {res['resourceType']} lacks its PLAC (placer) identifier with a value"
    return check


def _claimed(profile: str) -> Callable[[Resource], bool]:
    return lambda res: PROFILES[profile] in res.get("meta", {}).get("profile", [])


# ---------------------------------------------------------------- the rules, by resource type

def _header_event(res: Resource, ctx: Context) -> Iterator[str]:
    if _claimed("MessageHeader")(res) and (res.get("eventCoding", {}).get("system"),
                                           res.get("eventCoding", {}).get("code")) != (V2_0003, "I12"):
        yield "BSeR-ReferralMessageHeader event[x] = v2-0003#I12: another event claims the profile"


def _header_destination(res: Resource, ctx: Context) -> Iterator[str]:
    dest = res.get("destination", [])
    if len(dest) != 1 or not dest[0].get("receiver"):
        yield "BSeR-ReferralMessageHeader destination 1..1, destination.receiver 1..1"
    for d in dest:
        for ref in _refs(d.get("receiver")):
            if ctx.kind(ref) != "PractitionerRole":
                yield ("BSeR-ReferralMessageHeader destination.receiver only Reference(USCorePractitionerRole): "
                       f"points at a {ctx.kind(ref) or 'missing resource'}")


def _task_status_reason(res: Resource, ctx: Context) -> Iterator[str]:
    if "statusReason" in res and not res["statusReason"].get("text"):
        yield "ReferralTask statusReason.text 1..1"
    if res.get("status") in ("cancelled", "rejected", "failed") and not res.get("statusReason", {}).get("text"):
        yield "Gravity SDOH closed loop: a cancelled, rejected or failed Task states statusReason.text"


def _reason_code_text(res: Resource, ctx: Context) -> Iterator[str]:
    for rc in res.get("reasonCode", []):
        if not rc.get("text"):
            yield "ReferralServiceRequest reasonCode.text 1..1"
        codings = rc.get("coding", [])
        if codings and codings[0].get("system") != SNOMED:
            yield f"Handoff: ServiceRequest.reasonCode is SNOMED CT first, not {codings[0].get('system')}"


def _supporting_info(res: Resource, ctx: Context) -> Iterator[str]:
    for ref in _refs(res.get("supportingInfo")):
        target = ctx.target(ref)
        kind = target.get("resourceType", "")
        if kind == "Bundle" and target.get("type") == "document":
            continue
        if kind != "Consent":
            yield ("BSeR-ReferralServiceRequest supportingInfo only Reference(BSeRReferralRequestDocumentBundle) or "
                   f"Reference(BSeRPatientConsent): points at a {kind or 'missing resource'}"
                   + (f" ({target.get('type')})" if kind == "Bundle" else ""))


def _occurrence(res: Resource, ctx: Context) -> Iterator[str]:
    if not any(k.startswith("occurrence") for k in res):
        yield "ReferralServiceRequest occurrence[x] (US Core ServiceRequest must-support): missing"


def _patient(res: Resource, ctx: Context) -> Iterator[str]:
    if not any(i.get("system") and i.get("value") for i in res.get("identifier", [])):
        yield "US Core Patient identifier 1..*, identifier.system 1..1, identifier.value 1..1"
    names = res.get("name", [])
    if not names or not all(n.get("family") or n.get("given") or any(
            e.get("url") == DATA_ABSENT for e in n.get("extension", [])) for n in names):
        yield "US Core Patient name 1..* (us-core-6: family, given or a data-absent-reason)"
    if res.get("gender") not in ("male", "female", "other", "unknown"):
        yield "US Core Patient gender 1..1 (unknown allowed)"
    for a in res.get("address", []):
        if "state" in a and not USPS.fullmatch(a["state"]):
            yield f"US Core Patient address.state is a USPS abbreviation, not {a['state']!r}"
        if re.fullmatch(r"[0-9]+", a.get("city", "")) or re.fullmatch(r"[0-9]+", a.get("district", "")):
            yield "Handoff: Patient address carries a code (GNIS/FIPS) where a name belongs"
    for comm in res.get("communication", []):
        for c in _codings(comm.get("language")):
            if c.get("system") != "urn:ietf:bcp:47" or not BCP47.fullmatch(c.get("code", "")):
                yield f"US Core Patient communication.language is a BCP-47 tag, not {c.get('code')!r}"


def _role(res: Resource, ctx: Context) -> Iterator[str]:
    if not any(res.get(k) for k in ("practitioner", "organization", "healthcareService", "location")):
        yield "US Core PractitionerRole pd-1: a practitioner, organization, healthcare service or location"


def _consent(res: Resource, ctx: Context) -> Iterator[str]:
    if not (res.get("policyRule") or res.get("policy")):
        yield "Consent ppc-1: a policy or a policyRule"
    if _claimed("Consent")(res):
        if not res.get("dateTime"):
            yield "BSeR-PatientConsent dateTime 1..1"
        if len(res.get("category", [])) != 1:
            yield "BSeR-PatientConsent category 1..1"
        performers = _refs(res.get("performer"))
        if len(performers) != 1 or ctx.kind(performers[0]) not in ("Patient", "RelatedPerson"):
            yield "BSeR-PatientConsent performer 1..1 only Reference(BSeRPatient or USCoreRelatedPerson)"
        if not res.get("provision", {}).get("type"):
            yield "BSeR-PatientConsent provision 1..1, provision.type 1..1"


def _dosage(res: Resource, ctx: Context) -> Iterator[str]:
    dosage = res.get("dosage")
    if dosage is None:
        return
    if not ("dose" in dosage or any(k.startswith("rate") for k in dosage)):
        yield "MedicationAdministration mad-1: dosage needs a dose or a rate"
    dose = dosage.get("dose", {})
    if "value" in dose and not dose.get("unit"):
        yield "Handoff: a dose keeps its unit"
    if "code" in dose and dose.get("system") != UCUM:
        yield "Handoff: a coded dose unit is UCUM"


def _composition(res: Resource, ctx: Context) -> Iterator[str]:
    for n, section in enumerate(res.get("section", [])):
        if not section.get("code"):
            yield f"BSeR-ReferralRequestComposition section.code 1..: section {n} has none"
        if not (section.get("text") or section.get("entry") or section.get("section")):
            yield f"Composition cmp-1: section {n} has no text, entry or section"
    authors = _refs(res.get("author"))
    if len(authors) != 1 or ctx.kind(authors[0]) != "PractitionerRole":
        yield "BSeR-ReferralRequestComposition author 1..1 only Reference(USCorePractitionerRole)"


RULES: dict[str, list[Check]] = {
    "MessageHeader": [
        _required("eventCoding", "source", "focus", "sender", rule="BSeR-ReferralMessageHeader 1..1"),
        _header_event, _header_destination,
        _only("sender", "PractitionerRole", rule="BSeR-ReferralMessageHeader sender only Reference(USCorePractitionerRole)"),
        _only("focus", "Task", rule="BSeR-ReferralMessageHeader focus 1..1 only Reference(BSeRReferralTask)"),
    ],
    "Task": [
        _required("status", "intent", "code", "focus", "for", "authoredOn", "requester", "owner",
                  rule="ReferralTask 1.."),
        _fixed("code", TASK_CODE, "fulfill", rule="ReferralTask code = task-code#fulfill"),
        _system("businessStatus", BUSINESS_STATUS, rule="ReferralTask businessStatus from TaskBusinessStatusVS"),
        _plac(rule="ReferralTask identifier[referralInitiatorTaskIdentifier] type = v2-0203#PLAC, value 1..1"),
        _only("focus", "ServiceRequest", rule="BSeR-ReferralTask focus only Reference(BSeRReferralServiceRequest)"),
        _only("for", "Patient", rule="BSeR-ReferralTask for only Reference(BSeRPatient)"),
        _only("requester", "PractitionerRole", rule="BSeR: the Referral Initiator is a PractitionerRole"),
        _only("owner", "PractitionerRole", rule="BSeR: the Referral Recipient is a PractitionerRole"),
        _task_status_reason,
    ],
    "ServiceRequest": [
        _required("status", "intent", "category", "code", "subject", "requester", "authoredOn",
                  rule="ReferralServiceRequest / US Core ServiceRequest 1.."),
        _plac(rule="ReferralServiceRequest identifier[referralInitiatorServiceRequestIdentifier] = v2-0203#PLAC 1..1"),
        _system("category", SNOMED, rule="US Core ServiceRequest category"),
        _system("code", SNOMED, rule="BSeR-ReferralServiceRequest code from 2.16.840.1.113762.1.4.1099.45 (SNOMED CT)"),
        _only("subject", "Patient", rule="BSeR-ReferralServiceRequest subject only Reference(BSeRPatient)"),
        _only("requester", "PractitionerRole",
              rule="BSeR-ReferralServiceRequest requester only Reference(USCorePractitionerRole)"),
        _only("performer", "PractitionerRole", "Organization",
              rule="BSeR-ReferralServiceRequest performer only Reference(USCorePractitionerRole or USCoreOrganization)"),
        _reason_code_text, _supporting_info, _occurrence,
    ],
    "Patient": [_patient],
    "PractitionerRole": [_role, _only("organization", "Organization", rule="PractitionerRole.organization")],
    "Organization": [_required("identifier", "name", rule="US Core Organization 1..1")],
    "Consent": [_required("status", "scope", "category", "patient", "provision", rule="BSeR-PatientConsent 1..1"),
                _system("category", LOINC, rule="Handoff: Consent.category LOINC 59284-0"),
                _only("patient", "Patient", rule="BSeR-PatientConsent patient only Reference(BSeRPatient)"), _consent],
    "Composition": [_required("status", "type", "subject", "date", "author", "title", "section",
                              rule="BSeR-ReferralRequestComposition 1.."),
                    _only("subject", "Patient", rule="BSeR-ReferralRequestComposition subject only Reference(BSeRPatient)"),
                    _composition],
    "Encounter": [_required("status", "class", rule="Encounter 1..1")],
    "Condition": [_required("code", "subject", rule="Condition 1..1"),
                  _system("code", ICD10CM, rule="Handoff: EMS impressions and symptoms are ICD-10-CM")],
    "Observation": [_required("status", "code", "subject", rule="Observation 1..1")],
    "MedicationAdministration": [_required("status", "subject", "effectiveDateTime", rule="MedicationAdministration 1..1"),
                                 _system("medicationCodeableConcept", RXNORM, rule="Handoff: medications are RxNorm"),
                                 _dosage],
    "Provenance": [_required("target", "recorded", "agent", rule="Provenance 1..1")],
}


def _displayed(res: Resource) -> Iterator[str]:
    """Every Coding carries a display (issue 16: no bare codes), and none is from an invented
    system where a real one exists (a Handoff category only as a second coding)."""
    for c in _codings({k: v for k, v in res.items() if k not in ("meta", "identifier")}):
        if not c.get("display"):
            yield f"Handoff: {res.get('resourceType')} coding {c.get('system')}#{c.get('code')} has no display"
    for rc in res.get("reasonCode", []):
        if rc.get("coding") and rc["coding"][0].get("system") == CATEGORY_SYSTEM:
            yield "Handoff: a Handoff category is never the first coding"


def _resource(res: Resource, ctx: Context, where: str) -> list[str]:
    kind = res.get("resourceType", "?")
    if kind == "Bundle":  # a nested document: its references resolve inside it
        out = [f"{where}{p}" for p in _document(res, ctx.part2)]
        if ctx.part2 and res.get("meta", {}).get("security") != PART2_SECURITY:
            out.append(f"{where}the document Bundle lacks the Part 2 security labels of its message")
        return out
    out = [f"{where}{p}" for check in RULES.get(kind, ()) for p in check(res, ctx)]
    out += [f"{where}{p}" for p in _displayed(res)]
    out += [f"{where}{kind} refers to {ref}, not in its Bundle" for ref in _references(res) if ref not in ctx.urls]
    if ctx.part2 and res.get("meta", {}).get("security") != PART2_SECURITY:
        out.append(f"{where}{kind} lacks the Part 2 security labels of its Bundle")
    return out


def _entries(bundle: Resource, where: str) -> list[str]:
    out, seen = [], set()
    for n, entry in enumerate(bundle.get("entry", [])):
        res = entry.get("resource", {})
        if entry.get("fullUrl") != f"urn:uuid:{res.get('id')}":
            out.append(f"{where}Handoff: entry {n} fullUrl is not urn:uuid:<id>")
        if entry.get("fullUrl") in seen:
            out.append(f"{where}Bundle bdl-7: entry {n} repeats a fullUrl")
        seen.add(entry.get("fullUrl"))
    return out


def _document(doc: Resource, part2: bool) -> list[str]:
    """The BSeR Referral Request Document Bundle (BSeRReferralRequestDocumentBundle; R4 bdl-9/10/11)."""
    if doc.get("type") != "document":
        return ["BSeR-ReferralRequestDocumentBundle type = document: a nested Bundle of another type"]
    out = _entries(doc, "document: ")
    if not doc.get("id"):
        out.append("BSeR-ReferralRequestDocumentBundle id 1..1")
    if not (doc.get("identifier", {}).get("system") and doc.get("identifier", {}).get("value")):
        out.append("Bundle bdl-9: a document has an identifier with a system and a value")
    if not doc.get("timestamp"):
        out.append("Bundle bdl-10: a document has a timestamp")
    entries = doc.get("entry", [])
    if not entries or entries[0].get("resource", {}).get("resourceType") != "Composition":
        out.append("Bundle bdl-11 / BSeR-ReferralRequestDocumentBundle: the first resource is the Composition")
    ctx = Context(doc, part2)
    for entry in entries:
        out += _resource(entry.get("resource", {}), ctx, "document: ")
    return out


def problems(bundle: dict) -> list[str]:
    """Every rule the message Bundle breaks (empty: it conforms to what it claims)."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "message":
        return ["BSeR-ReferralMessageBundle type = message: not a message Bundle"]
    out = []
    entries = bundle.get("entry", [])
    head = entries[0].get("resource", {}) if entries else {}
    claimed = PROFILES["Bundle"] in bundle.get("meta", {}).get("profile", [])
    if head.get("resourceType") != "MessageHeader":
        out.append("R4 messaging: the first entry of a message Bundle is its MessageHeader")
    if claimed and not _claimed("MessageHeader")(head):
        out.append("BSeR-ReferralMessageBundle entry[messageHeader] only BSeRReferralMessageHeader")
    if _claimed("MessageHeader")(head) and not claimed:
        out.append("Handoff: a BSeR MessageHeader in a Bundle that does not claim BSeR-ReferralMessageBundle")
    if sum(e.get("resource", {}).get("resourceType") == "MessageHeader" for e in entries) != 1:
        out.append("BSeR-ReferralMessageBundle entry[messageHeader] 1..1")
    for key in ("identifier", "timestamp", "entry"):
        if not bundle.get(key):
            out.append(f"Handoff: Bundle.{key} is missing")
    out += _entries(bundle, "")
    part2 = any(s.get("code") == "42CFRPart2" for s in bundle.get("meta", {}).get("security", []))
    ctx = Context(bundle, part2)
    for entry in entries:
        out += _resource(entry.get("resource", {}), ctx, "")
    for res in (e.get("resource", {}) for e in entries):
        if res.get("resourceType") == "ServiceRequest" and part2 and not res.get("note"):
            out.append("42 CFR 2.32: Part 2 content without the notice")
    if part2 and {(s["system"], s["code"]) for s in PART2_SECURITY} - {
            (s.get("system"), s.get("code")) for s in bundle["meta"]["security"]}:
        out.append("42 CFR Part 2: the Bundle lacks R / 42CFRPart2 / NORDSCLCD")
    if not part2 and any(s.get("system") == CONFIDENTIALITY for e in entries
                         for s in e.get("resource", {}).get("meta", {}).get("security", [])):
        out.append("Handoff: a resource is labelled restricted but the Bundle is not")
    return out


def leaks(bundle: dict, carries: frozenset[DataCategory]) -> list[str]:
    """Every ICD-10-CM or RxNorm code in the Bundle (nested documents included) whose sensitivity
    the variant does not carry."""
    sens = load_sensitivity()
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("system") in (ICD10CM, RXNORM) and "code" in node:
                extra = sens.of(node["system"], node["code"]) - carries
                if extra:
                    found.append(f"{node['code']} reveals {', '.join(sorted(c.value for c in extra))}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(bundle)
    return found
