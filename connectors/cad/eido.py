"""NENA EIDO (NENA-STA-021.1, JSON) → one `DispatchIncident` per incident component (DOMAIN.md §3).

- Record id: the incident's `internalIncidentId` (the CAD's incident number, the join key to
  eResponse.03), else the document `$id`. A document without an incident component (a call
  transfer) is read with what it has: one record named by the document `$id`.
- Source system `eido:<issuingElementIdentification>`; the dispatch centre is
  `ctx.dispatch_centre_for(<issuer>)` (the settings map a CAD's own id to its centre).
- Version: the document's `lastUpdateTimeStamp` (Unix seconds); see connectors/common.py.
- `$ref` links are resolved one component at a time through an index of every component's
  `$id`, following chains of bare references with a visited set: a cycle or a dangling
  reference resolves to nothing and is ignored, never followed twice.
- Location: the incident's (else the call's, else any) `locationByValue` PIDF-LO, parsed
  safely; `locationByReferenceUrl` is never fetched.
- Determinant: an `incidentTypeInternalCode` (else common type) with the shape of an MPDS
  determinant (23-C-1, 25D01); EIDO has no element of its own for it.
- Narrative: every notes component's `notesActionComments`, HTML tags removed, in order.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any

from pydantic import ValidationError

from connectors.cad.mapping import looks_like_determinant
from connectors.cad.pidf import parse_pidf
from connectors.common import (
    ParseContext, ParseResult, Parsed, Refused, clean_text, draft_envelope, invalid_fields,
    parse_time, seal, version_of,
)
from pipeline.records import Address, DispatchIncident, IncidentKey, Person

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_TAG = re.compile(r"<[^>]{0,2000}>")
Json = dict[str, Any]


def parse_eido(data: bytes, ctx: ParseContext, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[ParseResult]:
    if len(data) > max_bytes:
        return [Refused(None, f"EIDO document is {len(data)} bytes, over the {max_bytes}-byte limit")]
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return [Refused(None, "EIDO document is not UTF-8")]
    except RecursionError:
        return [Refused(None, "EIDO document nests too deeply")]
    except json.JSONDecodeError as error:
        return [Refused(None, f"EIDO document is not JSON (line {error.lineno}, column {error.colno})")]
    if not isinstance(doc, dict):
        return [Refused(None, "EIDO document is not a JSON object")]
    components = _index(doc)
    issuer = clean_text(doc.get("issuingElementIdentification")) or _ref_id(doc.get("updatedByAgencyReference"))
    if not issuer:
        return [Refused(None, "EIDO document names no issuer (issuingElementIdentification)")]
    incidents = [c for c in _list(doc.get("incidentComponent")) if isinstance(c, dict)] or [{}]
    return [_one(doc, incident, components, issuer, ctx) for incident in incidents]


def _one(doc: Json, incident: Json, components: dict[str, Json], issuer: str, ctx: ParseContext) -> ParseResult:
    record_id = clean_text(incident.get("internalIncidentId")) or clean_text(doc.get("$id")) \
        or clean_text(incident.get("$id"))
    if not record_id:
        return Refused(None, "EIDO incident has neither internalIncidentId nor a document $id")
    key = IncidentKey(dispatch_centre=ctx.dispatch_centre_for(issuer), incident_number=record_id)
    calls = [c for c in _list(doc.get("callComponent")) if isinstance(c, dict)]
    updated = parse_time(clean_text(doc.get("lastUpdateTimeStamp")))
    received = _first_time(incident, "incidentCreationTimestamp", "incidentStartTimestamp") or \
        min(filter(None, (parse_time(clean_text(c.get("callStartTimestamp"))) for c in calls)), default=None)
    try:
        draft = DispatchIncident(
            envelope=draft_envelope(record_id), key=key,
            call_type=_first_text(incident.get("incidentTypeCommonRegistryText")),
            call_type_internal=clean_text(incident.get("incidentTypeInternalCode")),
            call_type_text=clean_text(incident.get("incidentTypeInternalText")),
            mpds_determinant=_determinant(incident),
            priority=_priority(incident.get("incidentCommonPriorityNumber")),
            status=[clean_text(s) for s in _list(incident.get("incidentStatusCommonRegistryText")) if clean_text(s)],
            dispositions=_dispositions(doc),
            received_at=received,
            location=_location(incident, calls, components, doc),
            persons=_persons(doc, components),
            units=_units(doc),
            narrative=_narrative(doc),
        )
    except ValidationError as error:
        return Refused(record_id, "EIDO incident does not fit the dispatch-incident record", invalid_fields(error))
    return Parsed(seal(draft, source_system=f"eido:{issuer}", record_id=record_id, version=version_of([updated]),
                       occurred_at=received, key=key, ctx=ctx))


def _determinant(incident: Json) -> str:
    """EIDO has no determinant element: a CAD that uses EMD puts it in its internal type code."""
    for name in ("incidentTypeInternalCode", "incidentTypeCommonRegistryText"):
        text = _first_text(incident.get(name))
        if looks_like_determinant(text):
            return text
    return ""


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _index(doc: Json) -> dict[str, Json]:
    """Every component of every `...Component` array by its `$id` (first one wins)."""
    found: dict[str, Json] = {}
    for name, value in doc.items():
        if name.endswith("Component"):
            for component in _list(value):
                if isinstance(component, dict) and isinstance(component.get("$id"), str):
                    found.setdefault(component["$id"], component)
    return found


def _ref_id(value: Any) -> str:
    return clean_text(value.get("$ref")) if isinstance(value, dict) else ""


def resolve(value: Any, components: dict[str, Json], limit: int = 16) -> Json | None:
    """A `{"$ref": id}` (or an inline component) → the component; None if dangling or cyclic."""
    seen: set[str] = set()
    while isinstance(value, dict) and "$ref" in value and len(value) == 1 and len(seen) < limit:
        ref = value.get("$ref")
        if not isinstance(ref, str) or ref in seen:
            return None
        seen.add(ref)
        value = components.get(ref)
    if not isinstance(value, dict) or ("$ref" in value and len(value) == 1):
        return None
    return value


def _first_text(value: Any) -> str:
    return next((clean_text(v) for v in _list(value) if clean_text(v)), "")


def _first_time(component: Json, *names: str):
    return next((t for t in (parse_time(clean_text(component.get(n))) for n in names) if t), None)


def _priority(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= 10 else None


def _location(incident: Json, calls: list[Json], components: dict[str, Json], doc: Json) -> Address | None:
    refs = _list(incident.get("locationReference")) + [r for c in calls for r in _list(c.get("locationReference"))]
    candidates = [resolve(r, components) for r in refs] + _list(doc.get("locationComponent"))
    for location in candidates:
        if isinstance(location, dict) and isinstance(location.get("locationByValue"), str):
            place = parse_pidf(location["locationByValue"])
            if place is not None:
                return place
    return None


def _persons(doc: Json, components: dict[str, Json]) -> list[Person]:
    """Each person's first role (lower-case, hyphenated) and the tel: of its callback, if any."""
    people = []
    for person in _list(doc.get("personComponent")):
        if isinstance(person, dict):
            roles = [clean_text(r) for r in _list(person.get("personIncidentRoleRegistryText")) if clean_text(r)]
            callback = resolve(person.get("callBackReference"), components) or {}
            phone = next((clean_text(u)[4:] for u in _list(callback.get("callBackInformationUri"))
                          if clean_text(u).startswith("tel:")), "")
            people.append(Person(role=(roles[0] if roles else "unknown").lower().replace(" ", "-"), phone=phone))
    return people


def _units(doc: Json) -> list[str]:
    units = []
    for resource in _list(doc.get("emergencyResourceComponent")):
        if isinstance(resource, dict):
            name = clean_text(resource.get("emergencyResourceIdentifier")) or clean_text(resource.get("$id"))
            if name:
                units.append(name)
    return units


def _dispositions(doc: Json) -> list[str]:
    codes = []
    for disposition in _list(doc.get("dispositionComponent")):
        if isinstance(disposition, dict):
            codes += [clean_text(c) for c in _list(disposition.get("dispositionCommonRegistryText")) if clean_text(c)]
    return codes


def _narrative(doc: Json) -> str:
    notes = []
    for note in _list(doc.get("notesComponent")):
        if isinstance(note, dict) and isinstance(note.get("notesActionComments"), str):
            notes.append(html.unescape(_TAG.sub(" ", note["notesActionComments"])).strip())
    return "\n".join(n for n in notes if n)[:20_000]
