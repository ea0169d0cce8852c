"""Dispatch-time alerts (issue 20): a behavioural-health or suicide-risk 911 call, still open,
reaches the co-responder teams on duty for its place while the call is live.

Pure: `plan` takes one incident version, its detection, the directory, the routing rules, the
consent policy and the site's local time, and says which team gets which alert, which teams the
policy refuses, and which alerts the call's close withdraws.

Recipients: what `route_dispatch` picks (co-responder, the emergency service, area, hours), each
decided by the consent policy's `decide` like any disclosure: the alert is a request from the
dispatch centre (the incident's source role, from the agency registry) with purpose
emergency-response, so the policy's dispatch-centre → co-responder rule applies (never law
enforcement, never SUD: the rule's variant is no-sud). The request names no person (`request`).

Content (`content`): the minimum to respond, as the policy lists it (`dispatch_alert.content`:
location, call-nature, safety-notes) within the decision's variant and the policy's
`dispatch_alert.data`: the CAD incident number and version, the location, the call type and
nature (only categories both carry: never SUD), safety flags matched in the narrative. Never a
name, never the narrative's words.

Sending (the send-alert stage): the table `dispatch_alert` says what a team has; a row is
written only after the team's webhook answered (`settle` before the send, `sent` after).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from pipeline import records as r
from pipeline.consent import Recipient, Routed, decide
from pipeline.consent.policy import Policy
from pipeline.route import RoutingRules, route_dispatch
from pipeline.route.directory import Directory, Provider
from pipeline.vocab import Outcome, Purpose, Variant

# What a responder needs to know before arriving; flags only, never the narrative's words.
SAFETY = {
    "weapon": re.compile(r"\b(?:weapon|gun|firearm|knife|armed|shots?)\b", re.I),
    "violence": re.compile(r"\b(?:violent|assault\w*|fight\w*|threaten\w*|combative)\b", re.I),
    "scene hazard": re.compile(r"\b(?:fire|gas leak|hazmat|dog|barricad\w*)\b", re.I),
}
LOCATION = ("street", "city", "county", "state", "zip", "latitude", "longitude")
PERMITS = (Outcome.PERMIT, Outcome.PERMIT_REDACTED)


@dataclass(frozen=True)
class Send:
    provider: Provider
    content: dict
    decision: r.Decision


@dataclass(frozen=True)
class Plan:
    send: tuple[Send, ...]  # a first alert, or an update of one already sent (the send-alert stage tells)
    withdraw: tuple[str, ...]  # recipient ids whose alert the call's close withdraws
    refused: tuple[r.Decision, ...] = ()  # on-duty teams the policy does not permit (audited, nothing sent)


def request(incident: r.DispatchIncident, detection: r.Detection, rules: RoutingRules) -> r.ReferralRequest:
    """The alert as the question `decide` answers: the dispatch centre (its role from the agency
    registry, on the envelope) discloses the call's nature for emergency response. An alert names
    no one, so its subject is the call itself (a person key of the incident, key version 0)."""
    key = incident.key
    call = f"incident:{key.dispatch_centre}/{key.incident_number}"
    return r.ReferralRequest(
        envelope=incident.envelope, request_id=alert_id(key, "request"), episode_id=call,
        person=r.PersonKey(person_token=call, key_version=0), service=rules.emergency_service,
        categories=list(detection.categories), incident=key, location=incident.location,
        source_records=[r.SourceRef(topic="dispatch.incident", record_id=key.incident_number,
                                    version=version(incident))],
        revision=version(incident), source_role=incident.envelope.source_role)


def version(incident: r.DispatchIncident) -> int:
    return incident.envelope.source_record_version


def content(incident: r.DispatchIncident, detection: r.Detection, policy: Policy, variant: Variant) -> dict:
    """The minimum to respond: what the policy's `dispatch_alert.content` lists, within `variant`."""
    body = {"incident_number": incident.key.incident_number, "dispatch_centre": incident.key.dispatch_centre,
            "version": version(incident),
            "received_at": incident.received_at.isoformat() if incident.received_at else None}
    listed = set(policy.alert_content)
    if "location" in listed:
        where = (incident.location or r.Address()).model_dump(include=set(LOCATION))
        body["location"] = {k: v for k, v in where.items() if v not in ("", None)}
    if "call-nature" in listed:
        carried = policy.variant_content[variant] & policy.alert_data
        body |= {"call_type": incident.call_type, "priority": incident.priority,
                 "call_nature": sorted(c.value for c in detection.categories if c in policy.category_data
                                       and policy.category_data[c] in carried)}
    if "safety-notes" in listed:
        body["safety"] = sorted(flag for flag, pattern in SAFETY.items() if pattern.search(incident.narrative))
    return body


def closed(incident: r.DispatchIncident) -> bool:
    return incident.cleared_at is not None or bool(incident.dispositions)


def plan(incident: r.DispatchIncident, detection: r.Detection, directory: Directory, rules: RoutingRules,
         policy: Policy, local_now: datetime, alerted: frozenset[str]) -> Plan:
    """Which teams to alert, which the policy refuses, and which alerts to withdraw, given the
    teams `alerted` before (sent, not withdrawn).

    A closed call (cleared, or any disposition) withdraws the alerts sent and those the open call
    would send (one may still be on its way: the send-alert stage then never sends it)."""
    if closed(incident):
        live = plan(incident.model_copy(update={"cleared_at": None, "dispositions": []}), detection, directory,
                    rules, policy, local_now, alerted)
        return Plan((), tuple(sorted(alerted | {s.provider.id for s in live.send})))
    question, routed = request(incident, detection, rules), Routed(rules.version, directory.version)
    sends, refused = [], []
    for candidate in route_dispatch(detection, incident, directory, rules, local_now):
        decision = routed.stamp(decide(question, Recipient.of(candidate.provider), Purpose.EMERGENCY_RESPONSE, [],
                                       policy, local_now))
        if decision.outcome in PERMITS:
            sends.append(Send(candidate.provider, content(incident, detection, policy, decision.variant), decision))
        else:
            refused.append(decision)
    return Plan(tuple(sends), (), tuple(refused))


def records(found: Plan, incident: r.DispatchIncident, directory: Directory, at: datetime) -> list[r.DispatchAlert]:
    """The plan as dispatch.alert records: one per team to alert (or update) or withdraw."""
    out = [_record(incident, s.provider, "alert", s.content, at, s.decision) for s in found.send]
    for recipient_id in found.withdraw:
        provider = _provider(directory, recipient_id)
        if provider is not None:  # a team no longer in the directory: nothing to address the withdrawal to
            out.append(_record(incident, provider, "withdraw", {"incident_number": incident.key.incident_number,
                                                                "version": version(incident), "withdrawn": True},
                               at, None))
    return out


def _provider(directory: Directory, recipient_id: str) -> Provider | None:
    try:
        return directory.get(recipient_id)
    except KeyError:
        return None


def alert_id(key: r.IncidentKey, recipient_id: str) -> str:
    return f"alert:{key.dispatch_centre}/{key.incident_number}:{recipient_id}"


def _record(incident: r.DispatchIncident, provider: Provider, action: str, body: dict, at: datetime,
            decision: r.Decision | None) -> r.DispatchAlert:
    aid = alert_id(incident.key, provider.id)
    envelope = incident.envelope.model_copy(update={
        "event_id": f"{aid}:v{version(incident)}:{action}", "source_system": "handoff:alerts"})
    reasons = decision.reasons if decision else ["the call is closed"]
    return r.DispatchAlert(envelope=envelope, key=incident.key, alert_id=aid, recipient_id=provider.id,
                           endpoint=provider.alert_endpoint or provider.endpoint, action=action,
                           incident_version=version(incident), body=_body(aid, action, at, body), reasons=reasons,
                           decision=decision)


def _body(aid: str, action: str, at: datetime, body: dict) -> bytes:
    return json.dumps({"alert_id": aid, "action": action, "sent_at": at.isoformat(), **body}, sort_keys=True).encode()


def as_action(alert: r.DispatchAlert, action: str) -> r.DispatchAlert:
    """The same alert as another action (a first alert that finds the team alerted becomes an update)."""
    body = json.dumps({**json.loads(alert.body), "action": action}, sort_keys=True).encode()
    return alert.model_copy(update={"action": action, "body": body})


# ---------------------------------------------------------------- what each team has (table dispatch_alert)

def alerted(store, key: r.IncidentKey) -> frozenset[str]:
    """The teams whose alert for this incident went out and is not withdrawn."""
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT recipient_id FROM dispatch_alert WHERE dispatch_centre = :c AND "
                           "incident_number = :n AND state = 'sent'", _k(key))
    return frozenset(row["recipient_id"] for row in rows)


def settle(store, alert: r.DispatchAlert, at: datetime) -> r.DispatchAlert | None:
    """Just before sending: what to send given what the team has, or None (nothing).

    Never twice: a version the team has (or an older one) is not sent again, a withdrawn alert
    is never sent again. A first alert to a team that has one becomes an update. A withdrawal
    for a team that has nothing is noted (a `withdrawn` row) so that a first alert still on its
    way (a retry tier) is never sent after the call closed."""
    params = {**_k(alert.key), "p": alert.recipient_id}
    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT state, last_version FROM dispatch_alert WHERE dispatch_centre = :c AND "
                          "incident_number = :n AND recipient_id = :p", params)
        if row is None and alert.action == "withdraw":
            tx.execute("INSERT INTO dispatch_alert VALUES (:c, :n, :p, :v, :v, 'withdrawn', :at)",
                       {**params, "v": alert.incident_version, "at": at.isoformat()})
            return None
    if row is None:
        return alert
    if row["state"] != "sent" or row["last_version"] >= alert.incident_version:
        return None
    return as_action(alert, "update") if alert.action == "alert" else alert


def sent(store, alert: r.DispatchAlert, at: datetime) -> None:
    """After the team's webhook answered: the team has this version (or its withdrawal)."""
    state = "withdrawn" if alert.action == "withdraw" else "sent"
    params = {**_k(alert.key), "p": alert.recipient_id, "v": alert.incident_version, "s": state, "at": at.isoformat()}
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO dispatch_alert VALUES (:c, :n, :p, :v, :v, :s, :at) ON CONFLICT (dispatch_centre,"
                   " incident_number, recipient_id) DO UPDATE SET state = excluded.state, last_version ="
                   " excluded.last_version", params)


def _k(key: r.IncidentKey) -> dict:
    return {"c": key.dispatch_centre, "n": key.incident_number}
