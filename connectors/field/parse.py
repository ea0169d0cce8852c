"""Field referrals as a deflection programme sends them: JSON or CSV → `FieldReferral` records.

JSON: one object, a list of objects, or {"referrals": [...]}. Each object:
  referral_id (required), referred_at (ISO 8601 with offset), pathway (PTACC: self-referral,
  active-outreach, naloxone-plus, officer-prevention, officer-intervention, first-responder),
  referrer {role, id} (or referrer_role / referrer_id), person {family, given, middle,
  birth_date, sex, phone, language, address {street, city, county, state, zip}},
  services [sud-treatment, peer-recovery, mh-crisis-followup, housing-social],
  consent_status (none, verbal, proposed, signed), incident_number (keyed to the agency's
  dispatch centre) or incident {dispatch_centre, incident_number}, location {address}, note.
CSV: a header row with the same names flattened: referral_id, referred_at, pathway,
  referrer_role, referrer_id, family, given, middle, birth_date, sex, phone, language,
  street, city, county, state, zip, services (separated by ';'), consent_status,
  incident_number, note.

The agency is the authenticated sender (`ctx.sender`); a document naming another agency in
`agency_id` is refused rather than believed. A referral needs a way to reach the person
(a name or a phone). A consent status from the field is only what the referrer recorded:
the consent registry decides whether it is a consent (DESIGN.md principle 7).
Identity: source system `field:<agency>`, record id the referral id, version `referred_at`
(Unix seconds, else 1).
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from pydantic import ValidationError

from connectors.common import (
    ParseContext, ParseResult, Parsed, Refused, clean_text, draft_envelope, invalid_fields, parse_time, seal,
    version_of,
)
from pipeline.records import Address, FieldReferral, IncidentKey, Person
from pipeline.vocab import Pathway, Service

MAX_BYTES = 10 * 1024 * 1024
MAX_ITEMS = 10_000
CONSENT = {"none", "verbal", "proposed", "signed"}
ADDRESS = ("street", "city", "county", "state", "zip")
PERSON = ("family", "given", "middle", "sex", "phone", "language")


def parse_field_referrals(data: bytes, ctx: ParseContext, *, content_type: str = "") -> list[ParseResult]:
    if len(data) > MAX_BYTES:
        return [Refused(None, f"document exceeds {MAX_BYTES} bytes")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [Refused(None, f"document is not UTF-8 (byte {error.start})")]
    is_json = "json" in content_type or (not content_type.strip() and text.lstrip()[:1] in ("{", "["))
    items = _json_items(text) if is_json else _csv_items(text)
    if isinstance(items, Refused):
        return [items]
    if not items:
        return [Refused(None, "document holds no referral")]
    if len(items) > MAX_ITEMS:
        return [Refused(None, f"document holds more than {MAX_ITEMS} referrals")]
    return [_one(item, where, ctx) for where, item in items]


def _json_items(text: str) -> list[tuple[str, dict]] | Refused:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        return Refused(None, "document is not valid JSON", (f"line {getattr(error, 'lineno', 0)}",))
    if isinstance(doc, dict) and isinstance(doc.get("referrals"), list):
        doc = doc["referrals"]
    items = doc if isinstance(doc, list) else [doc]
    if not all(isinstance(item, dict) for item in items):
        return Refused(None, "each referral must be a JSON object")
    return [(f"item {i}", item) for i, item in enumerate(items)]


def _csv_items(text: str) -> list[tuple[str, dict]] | Refused:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = [(f"row {reader.line_num}", row) for row in reader]
    except csv.Error as error:
        return Refused(None, "document is not valid CSV", (str(error).split(":")[0],))
    if reader.fieldnames is None or "referral_id" not in [f.strip() for f in reader.fieldnames]:
        return Refused(None, "CSV header has no referral_id column")
    out = []
    for where, row in rows:
        row = {(k or "").strip(): v for k, v in row.items()}
        person = {k: row.get(k, "") for k in PERSON + ("birth_date",)} | {"address": {k: row.get(k, "") for k in ADDRESS}}
        out.append((where, {**row, "person": person,
                            "services": [s for s in (row.get("services") or "").split(";") if s.strip()]}))
    return out


def _one(item: dict[str, Any], where: str, ctx: ParseContext) -> ParseResult:
    record_id = clean_text(item.get("referral_id"), 200)
    detail = (where,)
    if not record_id:
        return Refused(None, "referral has no referral_id", detail)
    claimed = clean_text(item.get("agency_id"), 200)
    if claimed and claimed != ctx.sender:
        return Refused(record_id, "agency_id differs from the authenticated sender", detail)
    try:
        pathway = Pathway(clean_text(item.get("pathway")))
    except ValueError:
        return Refused(record_id, f"pathway must be one of {', '.join(p.value for p in Pathway)}", detail)
    referrer = item.get("referrer") if isinstance(item.get("referrer"), dict) else {}
    role = clean_text(referrer.get("role") or item.get("referrer_role"), 50)
    if not role:
        return Refused(record_id, "referral does not say who referred (referrer.role)", detail)
    services = item.get("services") if isinstance(item.get("services"), list) else []
    try:
        services = list(dict.fromkeys(Service(clean_text(s)) for s in services))
    except ValueError:
        return Refused(record_id, f"services must be among {', '.join(s.value for s in Service)}", detail)
    consent = clean_text(item.get("consent_status")) or "none"
    if consent not in CONSENT:
        return Refused(record_id, f"consent_status must be one of {', '.join(sorted(CONSENT))}", detail)
    referred_at = parse_time(clean_text(item.get("referred_at")))
    if clean_text(item.get("referred_at")) and referred_at is None:
        return Refused(record_id, "referred_at is not an ISO 8601 time with an offset", detail)
    person = _person(item.get("person"))
    if isinstance(person, Refused):
        return Refused(record_id, person.reason, detail)
    if not (person.family or person.given or person.phone):
        return Refused(record_id, "referral gives no way to reach the person (a name or a phone)", detail)
    incident = _incident(item, ctx)
    location = item.get("location") if isinstance(item.get("location"), dict) else None
    try:
        draft = FieldReferral(
            envelope=draft_envelope(record_id), agency_id=ctx.sender, referral_id=record_id, referrer_role=role,
            referrer_id=clean_text(referrer.get("id") or item.get("referrer_id"), 200), pathway=pathway,
            subject=person, services=services, consent_status=consent, incident=incident,
            location=_address(location.get("address") if location and isinstance(location.get("address"), dict)
                              else location),
            note=clean_text(item.get("note"), 4000))
    except ValidationError as error:
        return Refused(record_id, "referral does not fit the field-referral record", invalid_fields(error) + detail)
    key = incident or IncidentKey(dispatch_centre=f"field:{ctx.sender}", incident_number=record_id)
    return Parsed(seal(draft, source_system=f"field:{ctx.sender}", record_id=record_id,
                       version=version_of([referred_at]), occurred_at=referred_at, key=key, ctx=ctx))


def _person(value: Any) -> Person | Refused:
    value = value if isinstance(value, dict) else {}
    born_text = clean_text(value.get("birth_date"))
    try:
        born = date.fromisoformat(born_text) if born_text else None
    except ValueError:
        return Refused(None, "person.birth_date is not an ISO date (YYYY-MM-DD)")
    sex = clean_text(value.get("sex")).upper()[:1]
    fields = {k: clean_text(value.get(k), 200) for k in PERSON if k != "sex"}
    address = value.get("address") if isinstance(value.get("address"), dict) else None
    return Person(role="patient", birth_date=born, sex=sex if sex in ("F", "M", "U") else "", address=_address(address),
                  **fields)


def _address(value: dict | None) -> Address | None:
    if not value:
        return None
    fields = {k: clean_text(value.get(k), 200) for k in ADDRESS}
    return Address(**fields) if any(fields.values()) else None


def _incident(item: dict, ctx: ParseContext) -> IncidentKey | None:
    nested = item.get("incident") if isinstance(item.get("incident"), dict) else {}
    number = clean_text(nested.get("incident_number") or item.get("incident_number"), 200)
    if not number:
        return None
    centre = clean_text(nested.get("dispatch_centre"), 200) or ctx.dispatch_centre_for(ctx.sender)
    return IncidentKey(dispatch_centre=centre, incident_number=number)
