"""Dispatch-time alerts (issue 20): a behavioural-health or suicide-risk 911 call, still open,
reaches the co-responder teams on duty for its place while the call is live.

Pure: `plan` takes one incident version, its detection, the directory, the routing rules and
the site's local time, and says which team gets which alert and which earlier alerts are
withdrawn. The alert carries the minimum to respond (`content`): the CAD incident number,
the location, the call's nature and safety flags. Never a person's name (callers and
reporting parties are third parties), never the narrative's free text, never SUD history
(substance-use and overdose categories are left out of the call's nature).

Recipients: only what `route_dispatch` picks (co-responder, `mh-crisis` service, area,
hours), and of those only health-care providers that are not law enforcement: no alert goes
to a police recipient whatever the directory says.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from pipeline import records as r
from pipeline.route import RoutingRules, route_dispatch
from pipeline.route.directory import Directory, Provider
from pipeline.vocab import Category

# What a responder needs to know before arriving; flags only, never the narrative's words.
SAFETY = {
    "weapon": re.compile(r"\b(?:weapon|gun|firearm|knife|armed|shots?)\b", re.I),
    "violence": re.compile(r"\b(?:violent|assault\w*|fight\w*|threaten\w*|combative)\b", re.I),
    "scene hazard": re.compile(r"\b(?:fire|gas leak|hazmat|dog|barricad\w*)\b", re.I),
}
MENTAL_HEALTH = (Category.BEHAVIORAL_HEALTH, Category.SUICIDE_RISK)  # what the alert may name


@dataclass(frozen=True)
class Send:
    recipient: Provider
    content: dict
    update: bool  # the team was alerted for this incident before: this revises that alert


@dataclass(frozen=True)
class Plan:
    send: tuple[Send, ...]  # a first alert, or an update of one already sent (same recipient)
    withdraw: tuple[str, ...]  # recipient ids whose alert the call's close withdraws


def eligible(provider: Provider) -> bool:
    return provider.health_care_provider and not provider.law_enforcement


def content(incident: r.DispatchIncident, detection: r.Detection) -> dict:
    """The minimum to respond; nothing that names a person or a substance."""
    where = incident.location or r.Address()
    narrative = incident.narrative
    return {
        "incident_number": incident.key.incident_number,
        "dispatch_centre": incident.key.dispatch_centre,
        "version": incident.envelope.source_record_version,
        "location": {k: v for k, v in where.model_dump(include={"street", "city", "county", "state", "zip",
                                                                "latitude", "longitude"}).items() if v not in ("", None)},
        "call_type": incident.call_type,
        "call_nature": [c.value for c in MENTAL_HEALTH if c in detection.categories],
        "priority": incident.priority,
        "safety": sorted(flag for flag, pattern in SAFETY.items() if pattern.search(narrative)),
        "received_at": incident.received_at.isoformat() if incident.received_at else None,
    }


def plan(incident: r.DispatchIncident, detection: r.Detection, directory: Directory, rules: RoutingRules,
         local_now: datetime, alerted: frozenset[str]) -> Plan:
    """Which teams to alert (or update) and which alerts to withdraw, given the teams `alerted` before.

    A closed call (cleared, or any disposition) withdraws every earlier alert; an open one is
    updated for the teams already alerted and alerts a newly on-duty team at most once."""
    if incident.cleared_at is not None or incident.dispositions:
        return Plan((), tuple(sorted(alerted)))
    chosen = [c.provider for c in route_dispatch(detection, incident, directory, rules, local_now)
              if eligible(c.provider)]
    body = content(incident, detection)
    return Plan(tuple(Send(p, body, p.id in alerted) for p in chosen), ())


def records(found: Plan, incident: r.DispatchIncident, directory: Directory, at: datetime) -> list[r.DispatchAlert]:
    """The plan as dispatch.alert records: one per team to alert, update or withdraw."""
    out = []
    number = incident.key.incident_number
    for send in found.send:
        out.append(_record(incident, send.recipient, "update" if send.update else "alert", send.content, at,
                           [f"{send.recipient.id}: co-responder on duty for the call's place",
                            "purpose emergency-response"]))
    for recipient_id in found.withdraw:
        provider = _provider(directory, recipient_id)
        out.append(_record(incident, provider, "withdraw", {"incident_number": number, "version": incident.envelope.source_record_version,
                                                            "withdrawn": True}, at, ["the call is closed"]))
    return [a for a in out if a is not None]


def _provider(directory: Directory, recipient_id: str) -> Provider | None:
    try:
        return directory.get(recipient_id)
    except KeyError:
        return None


def _record(incident: r.DispatchIncident, provider: Provider | None, action: str, body: dict, at: datetime,
            reasons: list[str]) -> r.DispatchAlert | None:
    if provider is None:  # a team no longer in the directory: nothing to address the withdrawal to
        return None
    alert_id = f"alert:{incident.key.dispatch_centre}/{incident.key.incident_number}:{provider.id}"
    envelope = incident.envelope.model_copy(update={
        "event_id": f"{alert_id}:v{incident.envelope.source_record_version}:{action}", "source_system": "handoff:alerts"})
    payload = json.dumps({"alert_id": alert_id, "action": action, "sent_at": at.isoformat(), **body},
                         sort_keys=True).encode()
    return r.DispatchAlert(envelope=envelope, key=incident.key, alert_id=alert_id, recipient_id=provider.id,
                           endpoint=provider.endpoint, action=action, incident_version=incident.envelope.source_record_version,
                           body=payload, reasons=reasons)


def alerted(store, key: r.IncidentKey) -> frozenset[str]:
    """The teams alerted for this incident whose alert is not withdrawn (table dispatch_alert)."""
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT recipient_id FROM dispatch_alert WHERE dispatch_centre = :c AND "
                           "incident_number = :n AND state = 'sent'", _k(key))
    return frozenset(row["recipient_id"] for row in rows)


def remember(store, key: r.IncidentKey, alerts: list[r.DispatchAlert], at: datetime) -> list[r.DispatchAlert]:
    """Record what the plan sends; returns the alerts still to emit (a first alert only once per team)."""
    kept = []
    with store.transaction() as tx:
        for alert in alerts:
            row = tx.fetchone("SELECT state, last_version FROM dispatch_alert WHERE dispatch_centre = :c AND "
                              "incident_number = :n AND recipient_id = :p", {**_k(key), "p": alert.recipient_id})
            if row is None and alert.action == "alert":
                tx.execute("INSERT INTO dispatch_alert VALUES (:c, :n, :p, :v, :v, 'sent', :at)",
                           {**_k(key), "p": alert.recipient_id, "v": alert.incident_version, "at": at.isoformat()})
            elif row is None or row["state"] != "sent" or row["last_version"] >= alert.incident_version:
                continue  # never twice: withdrawn, or this version (or a later one) already went out
            else:
                state = "withdrawn" if alert.action == "withdraw" else "sent"
                tx.execute("UPDATE dispatch_alert SET state = :s, last_version = :v WHERE dispatch_centre = :c AND "
                           "incident_number = :n AND recipient_id = :p",
                           {**_k(key), "p": alert.recipient_id, "v": alert.incident_version, "s": state})
            kept.append(alert)
    return kept


def _k(key: r.IncidentKey) -> dict:
    return {"c": key.dispatch_centre, "n": key.incident_number}
