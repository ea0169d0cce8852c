"""Episodes: from what was recognised in a source record to referral requests.

This first cut treats each incident as its own episode and opens one request per
service the categories call for; the episodes issue adds merging across units,
agencies, field referrals and amendments within a window (by incident key, then by
person token), keeping this function's shape: pure, records in, Referrals out.
"""
from __future__ import annotations

import hashlib

from pydantic import SecretStr

from pipeline import records as r
from pipeline.episode.identity import person_token
from pipeline.vocab import Category, Pathway, Service

# Which services a recognised need calls for (the routing issue moves this into data).
SERVICES_FOR: dict[Category, tuple[Service, ...]] = {
    Category.OPIOID_OVERDOSE: (Service.SUD_TREATMENT, Service.PEER_RECOVERY),
    Category.OVERDOSE: (Service.SUD_TREATMENT,),
    Category.SUBSTANCE_USE: (Service.SUD_TREATMENT,),
    Category.SUICIDE_RISK: (Service.MH_CRISIS_FOLLOWUP,),
    Category.BEHAVIORAL_HEALTH: (Service.MH_CRISIS_FOLLOWUP,),
}


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:24]


def episode_id(key: r.IncidentKey) -> str:
    return "ep-" + _digest(key.dispatch_centre, key.incident_number)


def requests_from_run(run: r.EmsRun, detection: r.Detection, keys: dict[int, SecretStr]) -> list[r.Referral]:
    """The referral requests a run opens: none without a category, for the dead, or without contact."""
    if not detection.categories or detection.patient_died or not detection.patient_contact:
        return []
    person, match = person_token(run.patient, keys, fallback_id=f"{run.agency_id}/{run.pcr_number}")
    episode = episode_id(run.key)
    services: list[Service] = []
    for category in detection.categories:
        services += [s for s in SERVICES_FOR.get(category, ()) if s not in services]
    requests = []
    for service in services:
        request_id = "req-" + _digest(person.person_token, episode, service.value)
        envelope = run.envelope.model_copy(update={
            "event_id": f"referral:{request_id}:{run.envelope.event_id}",
            "source_system": "handoff:episode"})
        requests.append(r.Referral(
            envelope=envelope, request_id=request_id, person=person, match=match, episode_id=episode,
            service=service, categories=list(detection.categories),
            reasons=[e for e in detection.evidence if service in SERVICES_FOR.get(e.category, ())],
            source_records=[detection.subject], pathway=Pathway.FIRST_RESPONDER, revision=run.version,
            subject=run.patient, incident=run.key, referring_agency=run.agency_id))
    return requests
