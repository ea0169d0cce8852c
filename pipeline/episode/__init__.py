"""Episodes: from what was recognised about one event to one referral request per person and need.

Two merges, both pure here (pipeline/episode/state.py keeps their state in the database):

1. By incident key (dispatch centre + incident number), where CAD incidents and the PCRs of
   every unit meet on one partition: `incident_requests` groups the incident's runs by
   person token and opens one request per (person, service), with the incident's episode.
2. By person token, after re-keying to `referral.request`: `merge` puts a request into the
   person's open episode when one was seen within the window (default 72 h, event time),
   and folds it into the request already there, so a later record updates the request
   (revision + 1) instead of opening a second one. A request's identity is
   (person token, episode, service); the recipient is added by routing.

Each request carries its source role (`ReferralRequest.source_role`): the role in law of the
organisations whose records it carries, from the agency registry in settings (stamped on the
envelope at the edge; `role_of` looks up records that arrived without one), the most
protective when several took part, a Part 2 programme when none is known. The pathway does not
decide it: a police field referral tagged first-responder is still law enforcement's record.

No request for a person who died (eSituation.13, eDisposition.19, eArrest.18 — the detection
says so) or for a run without patient contact: the detection stands for surveillance.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from pydantic import SecretStr

from pipeline import records as r
from pipeline.episode.identity import person_token
from pipeline.ids import digest
from pipeline.route import RoutingRules, facts_of
from pipeline.vocab import Match, Pathway, Service, SourceRole

DEFAULT_WINDOW = timedelta(hours=72)
RoleOf = Callable[[str], str]  # agency id -> its role ('' when not in the registry)


def _unknown(agency_id: str) -> str:
    return ""


def source_role(records: list[tuple[r.Envelope, str]], role_of: RoleOf = _unknown) -> SourceRole:
    """The most protective role of these (envelope, agency id) records' organisations."""
    return SourceRole.most_protective([env.source_role or role_of(agency) for env, agency in records])


def age_on(birth: date | None, at: datetime) -> int | None:
    """Age in whole years on the day of `at`; None without a birth date (or one in the future)."""
    if birth is None:
        return None
    day = at.date()
    years = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return years if years >= 0 else None


def episode_id(key: r.IncidentKey) -> str:
    return "ep-" + digest(key.dispatch_centre, key.incident_number, length=24)


def request_id(token: str, episode: str, service: Service) -> str:
    return "req-" + digest(token, episode, service.value, length=24)


def _completeness(person: r.Person) -> int:
    return sum(bool(x) for x in (person.family, person.given, person.birth_date, person.phone, person.address))


def incident_requests(runs: list[tuple[r.EmsRun, r.Detection]], rules: RoutingRules,
                      keys: dict[int, SecretStr], incident: r.DispatchIncident | None = None,
                      role_of: RoleOf = _unknown) -> list[r.ReferralRequest]:
    """One request per (person, service) of one incident; persons joined by token."""
    people: dict[str, list[tuple[r.EmsRun, r.Detection, r.PersonKey, Match]]] = {}
    for run, detection in runs:
        token, match = person_token(run.patient, keys, fallback_id=f"{run.agency_id}/{run.pcr_uuid or run.pcr_number}")
        people.setdefault(token.person_token, []).append((run, detection, token, match))
    _fold_nameless(people)
    requests = []
    for members in people.values():
        if any(d.patient_died for _, d, _, _ in members):
            continue
        members = [m for m in members if m[1].patient_contact]
        flagged = [m for m in members if m[1].categories]
        if not flagged:
            continue
        requests += _person_requests(members, rules, incident, role_of)
    return requests


def _nameless(person: r.Person) -> bool:
    return not (person.family or person.given or person.birth_date or person.phone)


def _compatible(a: r.EmsRun, b: r.EmsRun) -> bool:
    sexes = {a.patient.sex[:1].upper(), b.patient.sex[:1].upper()} - {"", "U"}
    ages_differ = a.age is not None and b.age is not None and abs(a.age - b.age) > 2
    return len(sexes) <= 1 and not ages_differ


def _fold_nameless(people: dict[str, list]) -> None:
    """A PCR with no identity at all (a first-responder unit often records none) in an incident
    with exactly one identified patient of compatible sex and age is that patient's record for
    two purposes only: it opens no request of its own (no second, uncertain referral), and if it
    records a death the patient gets no request either. Its content is not merged into the
    referral: that would rest on a fall-back link, which can never permit a disclosure."""
    identified = [t for t, members in people.items() if members[0][3] == Match.EXACT]
    if len(identified) != 1:
        return
    anchor = people[identified[0]]
    for token in [t for t, members in people.items() if _nameless(members[0][0].patient)]:
        members = people[token]
        if all(_compatible(m[0], anchor[0][0]) for m in members):
            del people[token]
            if any(m[1].patient_died for m in members):
                anchor.extend((run, det, anchor[0][2], anchor[0][3]) for run, det, _, _ in members
                              if det.patient_died)


def _person_requests(members, rules: RoutingRules, incident: r.DispatchIncident | None,
                     role_of: RoleOf) -> list[r.ReferralRequest]:
    runs = [m[0] for m in members]
    role = source_role([(run.envelope, run.agency_id) for run in runs], role_of)  # the CAD incident is context
    first = min(runs, key=lambda run: run.envelope.occurred_at)
    best = max(runs, key=lambda run: (_completeness(run.patient), run.envelope.occurred_at))
    token, match = members[0][2], members[0][3]
    categories = []
    for _, detection, _, _ in members:
        categories += [c for c in detection.categories if c not in categories]
    sources = [d.subject for _, d, _, _ in members]
    if incident is not None:
        sources.append(r.SourceRef(topic="dispatch.incident", record_id=incident.envelope.source_record_id,
                                   version=incident.envelope.source_record_version))
    episode = episode_id(first.key)
    out = []
    facts = facts_of(runs)  # what the records state beyond the categories (homeless)
    for service in rules.services_for(categories, facts):
        needs = rules.grounds(service, categories, facts)
        reasons = [e for _, d, _, _ in members for e in d.evidence if e.category in needs]
        rid = request_id(token.person_token, episode, service)
        envelope = first.envelope.model_copy(update={
            "event_id": f"request:{rid}:" + digest(*(s.record_id + str(s.version) for s in sources), length=24),
            "source_system": "handoff:episode", "source_record_id": rid, "source_record_version": 1})
        out.append(r.ReferralRequest(
            envelope=envelope, request_id=rid, person=token, match=match, episode_id=episode, service=service,
            reasons=reasons, categories=categories, source_records=sources, pathway=Pathway.FIRST_RESPONDER,
            subject=best.patient, incident=first.key, referring_agency=first.agency_id, location=first.scene,
            age=best.age if best.age_units in ("", "2516009") else None, source_role=role))
    return out


def field_person(referral: r.FieldReferral, keys: dict[int, SecretStr]) -> tuple[r.PersonKey, Match]:
    """The person a field referral is about (the token its requests carry; a consent captured on
    scene is put under it), and how sure the link is."""
    return person_token(referral.subject, keys, fallback_id=f"{referral.agency_id}/{referral.referral_id}")


def field_requests(referral: r.FieldReferral, rules: RoutingRules, keys: dict[int, SecretStr],
                   role_of: RoleOf = _unknown) -> list[r.ReferralRequest]:
    """A referral an officer, crew or the person made directly: the services it asks for."""
    token, match = field_person(referral, keys)
    episode = episode_id(referral.incident) if referral.incident else "ep-" + digest(
        "field", referral.agency_id, referral.referral_id, length=24)
    source = r.SourceRef(topic="field.referral", record_id=referral.referral_id,
                         version=referral.envelope.source_record_version)
    role = source_role([(referral.envelope, referral.agency_id)], role_of)
    age = age_on(referral.subject.birth_date, referral.envelope.occurred_at)
    out = []
    for service in referral.services:
        rid = request_id(token.person_token, episode, service)
        envelope = referral.envelope.model_copy(update={
            "event_id": f"request:{rid}:{referral.envelope.event_id}", "source_system": "handoff:episode",
            "source_record_id": rid, "source_record_version": 1})
        out.append(r.ReferralRequest(
            envelope=envelope, request_id=rid, person=token, match=match, episode_id=episode, service=service,
            source_records=[source], pathway=referral.pathway, subject=referral.subject, incident=referral.incident,
            referring_agency=referral.agency_id, location=referral.location, age=age, source_role=role))
    return out


@dataclass(frozen=True)
class PersonEpisode:
    episode_id: str
    first_seen: datetime
    last_seen: datetime


def assign_episode(incoming: r.ReferralRequest, episodes: list[PersonEpisode], window: timedelta) -> str:
    """The person's episode for this request: its own if already known, else an open one in the window."""
    at = incoming.envelope.occurred_at
    if any(e.episode_id == incoming.episode_id for e in episodes):
        return incoming.episode_id
    open_ = [e for e in episodes if e.first_seen - window <= at <= e.last_seen + window]
    return max(open_, key=lambda e: e.last_seen).episode_id if open_ else incoming.episode_id


def merge(incoming: r.ReferralRequest, episode: str, existing: r.ReferralRequest | None) -> r.ReferralRequest:
    """Fold a request into the person's episode; the revision grows only when the content changes."""
    rid = request_id(incoming.person.person_token, episode, incoming.service)
    placed = incoming.model_copy(update={"episode_id": episode, "request_id": rid})
    if existing is None:
        return placed.model_copy(update={"revision": 1, "envelope": _envelope(placed, rid, 1)})
    combined = existing.model_copy(update={
        "categories": existing.categories + [c for c in placed.categories if c not in existing.categories],
        "reasons": existing.reasons + [e for e in placed.reasons if e not in existing.reasons],
        "source_records": _sources(existing.source_records, placed.source_records),
        "subject": placed.subject if placed.subject and _completeness(placed.subject) > _completeness(
            existing.subject or r.Person()) else existing.subject,
        "location": existing.location or placed.location, "age": existing.age or placed.age,
        "pathway": existing.pathway if existing.pathway != Pathway.FIRST_RESPONDER else placed.pathway,
        "exclude": sorted(set(existing.exclude) | set(placed.exclude)),
        "source_role": SourceRole.most_protective([existing.source_role, placed.source_role]),
        # a link review's confirmation (pipeline/outreach/links.py) makes an uncertain match exact
        "match": Match.EXACT if placed.match == Match.EXACT else existing.match,
    })
    if content_digest(combined) == content_digest(existing):
        return existing
    revision = existing.revision + 1
    return combined.model_copy(update={"revision": revision, "envelope": _envelope(combined, rid, revision)})


def _sources(old: list[r.SourceRef], new: list[r.SourceRef]) -> list[r.SourceRef]:
    latest = {(s.topic, s.record_id): s for s in old}
    for s in new:
        if (s.topic, s.record_id) not in latest or latest[(s.topic, s.record_id)].version < s.version:
            latest[(s.topic, s.record_id)] = s
    return list(latest.values())


def content_digest(request: r.ReferralRequest) -> str:
    return hashlib.sha256(request.model_dump_json(exclude={"envelope", "revision"}).encode()).hexdigest()


def _envelope(request: r.ReferralRequest, rid: str, revision: int) -> r.Envelope:
    return request.envelope.model_copy(update={
        "event_id": f"request:{rid}:r{revision}", "source_record_id": rid, "source_record_version": revision})
