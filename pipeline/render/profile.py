"""The project's own profile checks for a rendered message Bundle (BSeR's package cannot be
fetched here, so these stand in for it): required elements, references that resolve inside the
Bundle, codes from the right systems, Part 2 labels, and what a variant must not carry.

    problems(bundle)                 -> list of reasons (empty: conforms)
    leaks(bundle, carries)           -> codes that reveal a data category the variant does not carry
"""
from __future__ import annotations

from typing import Any, Iterator

from pipeline.render.content import ICD10CM, RXNORM, load_sensitivity
from pipeline.render.fhir import (ACTCODE, BUSINESS_STATUS, CONFIDENTIALITY, LOINC, PART2_SECURITY, PROFILES, V2_0003,
                                  V2_0203)
from pipeline.vocab import SNOMED, DataCategory

# (resource type, element) -> the code system its codings must come from
SYSTEMS = {("MessageHeader", "eventCoding"): V2_0003, ("Task", "code"): "http://hl7.org/fhir/CodeSystem/task-code",
           ("Task", "businessStatus"): BUSINESS_STATUS, ("ServiceRequest", "code"): SNOMED,
           ("ServiceRequest", "category"): SNOMED, ("Condition", "code"): ICD10CM,
           ("MedicationAdministration", "medicationCodeableConcept"): RXNORM, ("Consent", "category"): LOINC,
           ("Consent", "policyRule"): ACTCODE, ("Encounter", "class"): ACTCODE}
REQUIRED = {"MessageHeader": ("eventCoding", "source", "focus", "destination"),
            "Task": ("identifier", "status", "intent", "code", "businessStatus", "focus", "for", "requester", "owner",
                     "authoredOn"),
            "ServiceRequest": ("identifier", "status", "intent", "category", "code", "subject", "requester",
                               "performer", "authoredOn"),
            "Patient": ("identifier",), "Organization": ("identifier", "name"), "Encounter": ("status", "class"),
            "Condition": ("code", "subject"), "Observation": ("status", "code", "subject"),
            "MedicationAdministration": ("status", "subject", "effectiveDateTime"),
            "Consent": ("status", "scope", "category", "patient", "provision"),
            "Provenance": ("target", "recorded", "agent"), "PractitionerRole": ("organization",)}
TARGETS = {("MessageHeader", "focus"): "Task", ("Task", "focus"): "ServiceRequest", ("Task", "for"): "Patient",
           ("Task", "owner"): "Organization", ("ServiceRequest", "subject"): "Patient",
           ("ServiceRequest", "reasonReference"): "Condition",
           ("ServiceRequest", "supportingInfo"): ("Consent", "Condition", "Observation", "MedicationAdministration"),
           ("ServiceRequest", "performer"): "Organization", ("Consent", "patient"): "Patient"}


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _codings(node: Any) -> list[dict]:
    items = node if isinstance(node, list) else [node]
    out = []
    for item in items:
        if isinstance(item, dict):
            out += item.get("coding", []) if "coding" in item else [item] if "system" in item else []
    return out


def _refs(value: Any) -> list[str]:
    return [v["reference"] for v in (value if isinstance(value, list) else [value])
            if isinstance(v, dict) and "reference" in v]


def problems(bundle: dict) -> list[str]:
    out = []
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "message":
        return ["not a message Bundle"]
    if PROFILES["Bundle"] not in bundle.get("meta", {}).get("profile", []):
        out.append("Bundle.meta.profile does not pin the BSeR message bundle profile")
    for key in ("identifier", "timestamp", "entry"):
        if not bundle.get(key):
            out.append(f"Bundle.{key} is missing")
    entries = bundle.get("entry", [])
    urls = {}
    for n, entry in enumerate(entries):
        res = entry.get("resource", {})
        if entry.get("fullUrl") != f"urn:uuid:{res.get('id')}":
            out.append(f"entry {n}: fullUrl is not urn:uuid:<id>")
        if entry.get("fullUrl") in urls:
            out.append(f"entry {n}: duplicate fullUrl")
        urls[entry.get("fullUrl")] = res.get("resourceType")
    if not entries or entries[0].get("resource", {}).get("resourceType") != "MessageHeader":
        out.append("the first entry is not a MessageHeader")
    part2 = any(s.get("code") == "42CFRPart2" for s in bundle.get("meta", {}).get("security", []))
    for entry in entries:
        res = entry.get("resource", {})
        kind = res.get("resourceType", "?")
        out += [f"{kind}.{key} is missing" for key in REQUIRED.get(kind, ()) if not res.get(key)]
        out += [f"{kind} refers to {ref}, not in the Bundle" for ref in _references(res) if ref not in urls]
        for (rkind, element), system in SYSTEMS.items():
            if rkind == kind and element in res:
                out += [f"{kind}.{element}: code {c.get('code')!r} is not from {system}"
                        for c in _codings(res[element]) if c.get("system") != system or not c.get("code")]
        for (rkind, element), target in TARGETS.items():
            if rkind == kind:
                allowed = target if isinstance(target, tuple) else (target,)
                out += [f"{kind}.{element} points at a {urls.get(ref)}, not a {' or '.join(allowed)}"
                        for ref in _refs(res.get(element)) if ref in urls and urls[ref] not in allowed]
        if part2 and res.get("meta", {}).get("security") != PART2_SECURITY:
            out.append(f"{kind} lacks the Part 2 security labels of its Bundle")
        if kind == "Task" and res.get("status") == "cancelled" and not res.get("statusReason", {}).get("text"):
            out.append("a cancelled Task needs statusReason.text")
        if kind == "ServiceRequest" and not any(
                i.get("type", {}).get("coding", [{}])[0].get("code") == "PLAC" and
                i["type"]["coding"][0].get("system") == V2_0203 for i in res.get("identifier", [])):
            out.append("ServiceRequest lacks its PLAC identifier")
        if kind == "ServiceRequest" and part2 and not res.get("note"):
            out.append("Part 2 content without the 42 CFR 2.32 notice")
        if kind == "MedicationAdministration" and "dosage" in res and not (
                "dose" in res["dosage"] or any(k.startswith("rate") for k in res["dosage"])):
            out.append("MedicationAdministration.dosage needs a dose or a rate (mad-1)")
        if kind == "Consent" and not (res.get("policyRule") or res.get("policy")):
            out.append("Consent needs a policy or policyRule (ppc-1)")
    if part2 and {(s["system"], s["code"]) for s in PART2_SECURITY} - {
            (s.get("system"), s.get("code")) for s in bundle["meta"]["security"]}:
        out.append("Part 2 Bundle lacks R / 42CFRPart2 / NORDSCLCD")
    if not part2 and any(s.get("system") == CONFIDENTIALITY for e in entries
                         for s in e.get("resource", {}).get("meta", {}).get("security", [])):
        out.append("a resource is labelled restricted but the Bundle is not")
    return out


def leaks(bundle: dict, carries: frozenset[DataCategory]) -> list[str]:
    """Every ICD-10-CM or RxNorm code in the Bundle whose sensitivity the variant does not carry."""
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
