"""CAD incidents closed as "referred to partner agency" (APCO 15) → field referrals.

Done at intake, next to the parse of the incident (connectors/edge/intake.py), because
it is a pure function of one incident version: the derived referral is committed in the
same acknowledged submission as its incident, so the CAD's 2xx covers both, and no extra
consumer of `dispatch.incident` has to exist for it. The table of call types → services
is data (partner_referral.yaml).

Identity: agency = the dispatch centre, referral id `cad-<incident number>`, source system
`cad-referral:<dispatch centre>`, version 1 whatever the incident version: every later CAD
row of the same incident (dispatched, closed, resent) gives the same content and so the
same event id, which downstream drops; a changed person or location is a new digest, an
update of the same referral. The person is the incident's patient, else its first person
who is not the caller or reporting party, else an empty patient: the episode stage meets
the EMS PCR of the same incident key, which knows the patient.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from connectors.common import ParseContext, ParseResult, Parsed, Refused, draft_envelope, invalid_fields, seal
from pipeline.records import DispatchIncident, FieldReferral, Person
from pipeline.vocab import Pathway, Service

TABLE = Path(__file__).with_name("partner_referral.yaml")
_NOT_SUBJECT = {"caller", "reporting-party", "reportingparty", "witness"}


@lru_cache(maxsize=4)
def load_table(path: Path = TABLE) -> dict:
    spec = yaml.safe_load(path.read_text())
    return {"disposition": str(spec["disposition"]), "pathway": Pathway(spec["pathway"]),
            "referrer_role": spec["referrer_role"],
            "call_types": {k.upper(): [Service(s) for s in v] for k, v in spec["call_types"].items()}}


def referrals_from_incidents(results: list[ParseResult], ctx: ParseContext, table: dict | None = None
                             ) -> list[ParseResult]:
    table = table or load_table()
    out: list[ParseResult] = []
    for result in results:
        if isinstance(result, Parsed) and isinstance(result.record, DispatchIncident):
            incident = result.record
            services = table["call_types"].get(incident.call_type.upper())
            if services and table["disposition"] in incident.dispositions:
                out.append(_referral(incident, services, table, ctx))
    return out


def _subject(incident: DispatchIncident) -> Person:
    people = incident.persons
    for person in people:
        if person.role == "patient":
            return person
    return next((p for p in people if p.role not in _NOT_SUBJECT), Person(role="patient"))


def _referral(incident: DispatchIncident, services: list[Service], table: dict, ctx: ParseContext) -> ParseResult:
    centre, number = incident.key.dispatch_centre, incident.key.incident_number
    record_id = f"cad-{number}"
    try:
        draft = FieldReferral(
            envelope=draft_envelope(record_id), agency_id=centre, referral_id=record_id,
            referrer_role=table["referrer_role"], referrer_id=incident.envelope.source_system,
            pathway=table["pathway"], subject=_subject(incident), services=services, consent_status="none",
            incident=incident.key, location=incident.location)
    except ValidationError as error:
        return Refused(record_id, "CAD partner-agency referral does not fit the field-referral record",
                       invalid_fields(error))
    return Parsed(seal(draft, source_system=f"cad-referral:{centre}", record_id=record_id, version=1,
                       occurred_at=incident.cleared_at or incident.received_at, key=incident.key, ctx=ctx))
