"""Track: the one writer of referral state (migration 0009_track).

Every `referral.status` report goes through the state machine (`machine.check`): applied,
a repeat, or refused — all three appended to `referral_status_history`, the current row
updated only when applied (it carries the recipient, the person token, the request,
the service and the programme). Entering a state arms the deadlines that start there
(`deadlines.yaml`); reaching a state that meets one closes it. A sweep finds the missed
ones; the track stage turns a decline or a missed deadline into a request revision that
excludes the recipient, so routing and the consent gate choose the next one.

A provider's report on a referral track has not seen yet is parked (`referral_status_parked`,
migration 0030): its answer overtook the deliver stage's `requested` status, which a crash, a
full disk or a backlog can delay, and the edge has already acknowledged it. `unpark` hands the
parked reports back once the referral's first status is applied, and the stage applies them.
A report still parked after `track.parked_hours` names a referral Handoff never sent (or whose
send status is lost): the deadline sweep refuses it (`stale_parked`, `expire_parked`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pipeline import records as r
from pipeline.storage import Store, Transaction
from pipeline.track.deadlines import Deadlines
from pipeline.track.machine import BUSINESS_STATUS, CLOSED, OPEN, Verdict, check
from pipeline.vocab import ReferralState, Service, StatusSource

@dataclass(frozen=True)
class Applied:
    """What applying one report did, for the stage to audit and act on."""

    verdict: Verdict
    recipient_id: str = ""
    request_id: str = ""
    duplicate: bool = False  # this very event was applied before (a replay)
    parked: bool = False  # a provider's report before the referral's first status: kept for later
    new: bool = False  # this report made the referral known (parked reports may follow it now)


def apply_status(store: Store, status: r.ReferralStatus, deadlines: Deadlines | None, now: datetime,
                 service: Service | None = None, programme: str = "") -> Applied:
    """Run one report through the state machine, in one transaction."""
    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT state, recipient_id, request_id, service, programme FROM referral_state"
                          " WHERE referral_id = :id", {"id": status.referral_id})
        if row is None and status.source == StatusSource.PROVIDER:
            tx.execute("INSERT INTO referral_status_parked (event_id, referral_id, body, parked_at)"
                       " VALUES (:event, :id, :body, :now) ON CONFLICT DO NOTHING",
                       {"event": status.envelope.event_id, "id": status.referral_id,
                        "body": status.model_dump_json(), "now": now.isoformat()})
            return Applied(Verdict(None, None, applied=False), recipient_id=status.recipient_id, parked=True)
        current = ReferralState(row["state"]) if row else None
        verdict = check(current, status.state, status.source)
        holder = (row or {}).get("recipient_id") or ""
        if status.source == StatusSource.PROVIDER and status.recipient_id and status.recipient_id != holder:
            verdict = Verdict(current, current, applied=False,
                              refused=f"{status.recipient_id} reported on a referral it did not receive")
        outcome = "applied" if verdict.applied else ("refused" if verdict.refused else "repeat")
        business = status.business_status or BUSINESS_STATUS[status.state]
        recorded = _history(tx, status, current, outcome, verdict.refused or status.reason, now)
        if not recorded:  # the same event again (an at-least-once replay): nothing new
            return Applied(Verdict(current, current, applied=False), duplicate=True,
                           recipient_id=(row or {}).get("recipient_id") or "")
        recipient = status.recipient_id or (row or {}).get("recipient_id") or ""
        request = status.request_id or (row or {}).get("request_id") or ""
        service_value = (service.value if service else None) or (row or {}).get("service")
        programme = programme or (row or {}).get("programme") or ""
        if row is None and request and not service_value:  # first report: what the referral is about
            service_value, programme = _request_facts(tx, request, programme)
        if verdict.applied:
            _write_state(tx, status, row is None, recipient, request, service_value, programme, business, now)
            _update_deadlines(tx, deadlines, status, service_value, programme, now)
        return Applied(verdict, recipient, request, new=row is None and verdict.applied)


def unpark(store: Store, referral_id: str) -> list[r.ReferralStatus]:
    """The provider reports parked for this referral, in the order they came; taken away."""
    with store.transaction(immediate=True) as tx:
        rows = tx.fetchall("SELECT body FROM referral_status_parked WHERE referral_id = :id"
                           " ORDER BY parked_at, event_id", {"id": referral_id})
        tx.execute("DELETE FROM referral_status_parked WHERE referral_id = :id", {"id": referral_id})
    return [r.ReferralStatus.model_validate_json(row["body"]) for row in rows]


def stale_parked(store: Store, before: datetime, limit: int = 500) -> list[r.ReferralStatus]:
    """Provider reports parked at or before `before`: no send status came for their referral."""
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT body FROM referral_status_parked WHERE parked_at <= :before"
                           " ORDER BY parked_at, event_id LIMIT :limit", {"before": before.isoformat(), "limit": limit})
    return [r.ReferralStatus.model_validate_json(row["body"]) for row in rows]


def expire_parked(store: Store, statuses: list[r.ReferralStatus], reason: str, now: datetime) -> int:
    """Refuse these parked reports: each one still parked is taken away and its refusal appended
    to the history (a report that its referral's first status took meanwhile is left alone)."""
    expired = 0
    with store.transaction(immediate=True) as tx:
        for status in statuses:
            if not tx.execute("DELETE FROM referral_status_parked WHERE event_id = :event",
                              {"event": status.envelope.event_id}):
                continue
            expired += 1
            _history(tx, status, None, "refused", reason, now)
    return expired


def _history(tx: Transaction, status: r.ReferralStatus, before: ReferralState | None, outcome: str, reason: str,
             now: datetime) -> int:
    """Append one report to the history (applied | repeat | refused); 0 when this event is there already."""
    return tx.execute(
        "INSERT INTO referral_status_history (referral_id, event_id, occurred_at, recorded_at, from_state,"
        " to_state, source, reported_by, business_status, reason, outcome) VALUES (:id, :event, :at, :now,"
        " :before, :after, :source, :by, :business, :reason, :outcome) ON CONFLICT DO NOTHING",
        {"id": status.referral_id, "event": status.envelope.event_id, "at": status.envelope.occurred_at.isoformat(),
         "now": now.isoformat(), "before": before.value if before else None, "after": status.state.value,
         "source": status.source.value, "by": status.reported_by,
         "business": status.business_status or BUSINESS_STATUS[status.state], "reason": reason[:500],
         "outcome": outcome})


def _request_facts(tx: Transaction, request_id: str, programme: str) -> tuple[str | None, str]:
    from pipeline.episode.state import REFERRAL

    row = tx.fetchone("SELECT body FROM episode_request WHERE request_id = :id", {"id": request_id})
    if row is None:
        return None, programme
    request = REFERRAL.decode(bytes(row["body"]))
    return request.service.value, programme or request.referring_agency


def _write_state(tx: Transaction, status: r.ReferralStatus, new: bool, recipient: str, request: str,
                 service: str | None, programme: str, business: str, now: datetime) -> None:
    params = {"id": status.referral_id, "state": status.state.value, "at": status.envelope.occurred_at.isoformat(),
              "recipient": recipient or None, "token": status.person.person_token if status.person else None,
              "request": request or None, "service": service, "programme": programme or None,
              "business": business, "now": now.isoformat()}
    if new:
        tx.execute("INSERT INTO referral_state (referral_id, state, recipient_id, person_token, updated_at, request_id,"
                   " service, programme, business_status, created_at) VALUES (:id, :state, :recipient, :token, :at,"
                   " :request, :service, :programme, :business, :now)", params)
    else:
        tx.execute("UPDATE referral_state SET state = :state, updated_at = :at, revision = revision + 1,"
                   " business_status = :business, recipient_id = COALESCE(recipient_id, :recipient),"
                   " person_token = COALESCE(person_token, :token), request_id = COALESCE(request_id, :request),"
                   " service = COALESCE(service, :service), programme = COALESCE(programme, :programme)"
                   " WHERE referral_id = :id", params)


def _update_deadlines(tx: Transaction, deadlines: Deadlines | None, status: r.ReferralStatus, service: str | None,
                      programme: str, now: datetime) -> None:
    """Entering a state meets the open deadlines it satisfies, closes them all when the state is
    final, and arms the deadlines that start there."""
    at = {"id": status.referral_id, "now": now.isoformat()}
    if status.state in CLOSED:
        tx.execute("UPDATE referral_deadline SET status = 'closed', closed_at = :now"
                   " WHERE referral_id = :id AND status = 'open'", at)
    if deadlines is None:
        return
    for name in {rule.name for rule in deadlines.rules if status.state in rule.met_by}:
        tx.execute("UPDATE referral_deadline SET status = 'met', closed_at = :now"
                   " WHERE referral_id = :id AND name = :name AND status = 'open'", at | {"name": name})
    started = status.envelope.occurred_at
    for rule in deadlines.started_by(status.state, Service(service) if service else None, programme):
        tx.execute("INSERT INTO referral_deadline (referral_id, name, started_at, due_at, status)"
                   " VALUES (:id, :name, :start, :due, 'open') ON CONFLICT DO NOTHING",
                   at | {"name": rule.name, "start": started.isoformat(),
                         "due": deadlines.due(started, rule).isoformat()})


@dataclass(frozen=True)
class Missed:
    referral_id: str
    name: str
    due_at: datetime
    recipient_id: str
    request_id: str
    person_token: str


def missed_deadlines(store: Store, now: datetime, limit: int = 500) -> list[Missed]:
    """Open deadlines past due whose referral is still open (the sweep turns each into a cancellation)."""
    with store.transaction() as tx:
        rows = tx.fetchall(
            "SELECT d.referral_id, d.name, d.due_at, s.recipient_id, s.request_id, s.person_token, s.state"
            " FROM referral_deadline d JOIN referral_state s ON s.referral_id = d.referral_id"
            " WHERE d.status = 'open' AND d.due_at <= :now ORDER BY d.due_at LIMIT :limit",
            {"now": now.isoformat(), "limit": limit})
    return [Missed(row["referral_id"], row["name"], datetime.fromisoformat(row["due_at"]), row["recipient_id"] or "",
                   row["request_id"] or "", row["person_token"] or "")
            for row in rows if ReferralState(row["state"]) in OPEN]


def mark_missed(store: Store, missed: list[Missed], now: datetime) -> None:
    with store.transaction(immediate=True) as tx:
        for m in missed:
            tx.execute("UPDATE referral_deadline SET status = 'missed', closed_at = :now"
                       " WHERE referral_id = :id AND name = :name AND status = 'open'",
                       {"id": m.referral_id, "name": m.name, "now": now.isoformat()})


def escalation_request(store: Store, request_id: str, exclude: str, reason: str, now: datetime) -> r.ReferralRequest | None:
    """The request revision that asks the next recipient: the merged request with `exclude`
    grown by the recipient that declined or stayed silent. None when the request is gone."""
    from pipeline.episode.state import REFERRAL

    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT body FROM episode_request WHERE request_id = :id", {"id": request_id})
        if row is None:
            return None
        request = REFERRAL.decode(bytes(row["body"]))
        excluded = sorted(set(request.exclude) | {exclude})
        tx.execute("INSERT INTO referral_escalation (request_id, person_token, excluded, status, reason, updated_at)"
                   " VALUES (:id, :token, :excluded, 'escalated', :reason, :now) ON CONFLICT (request_id) DO UPDATE"
                   " SET excluded = excluded.excluded, status = 'escalated', reason = excluded.reason,"
                   " updated_at = excluded.updated_at",
                   {"id": request_id, "token": request.person.person_token, "excluded": json.dumps(excluded),
                    "reason": reason[:500], "now": now.isoformat()})
    return request.model_copy(update={"exclude": excluded})


def record_exhausted(store: Store, request: r.ReferralRequest, now: datetime) -> None:
    """Routing found no one left to ask for an escalated request: a visible state, never silence."""
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO referral_escalation (request_id, person_token, excluded, status, reason, updated_at)"
                   " VALUES (:id, :token, :excluded, 'exhausted', :reason, :now) ON CONFLICT (request_id) DO UPDATE"
                   " SET excluded = excluded.excluded, status = 'exhausted', reason = excluded.reason,"
                   " updated_at = excluded.updated_at",
                   {"id": request.request_id, "token": request.person.person_token,
                    "excluded": json.dumps(sorted(request.exclude)), "now": now.isoformat(),
                    "reason": f"no one left to ask for {request.service.value}"})


def missed_status(m: Missed, now: datetime) -> r.ReferralStatus:
    """A missed deadline, as the report that cancels the silent referral (and escalates it)."""
    envelope = r.Envelope(event_id=f"status:{m.referral_id}:deadline:{m.name}", source_system="handoff:track",
                          source_record_id=m.referral_id, occurred_at=m.due_at, ingested_at=now,
                          correlation_id=m.request_id or m.referral_id)
    return r.ReferralStatus(envelope=envelope, referral_id=m.referral_id, state=ReferralState.CANCELLED,
                            source=StatusSource.TRACK, reported_by="handoff:track", recipient_id=m.recipient_id,
                            request_id=m.request_id, business_status=BUSINESS_STATUS[ReferralState.CANCELLED],
                            reason=f"no answer by the {m.name} deadline ({m.due_at.isoformat()})")


def list_referrals(store: Store, now: datetime, state: str = "", recipient: str = "", overdue: bool = False,
                   limit: int = 200) -> list[dict]:
    """Current referrals, newest first, with their earliest open deadline (overdue ones flagged)."""
    where, params = [], {"now": now.isoformat(), "limit": limit}
    if state:
        where.append("s.state = :state")
        params["state"] = state
    if recipient:
        where.append("s.recipient_id = :recipient")
        params["recipient"] = recipient
    if overdue:
        where.append("d.due_at <= :now")
    sql = ("SELECT s.referral_id, s.state, s.business_status, s.recipient_id, s.request_id, s.service, s.programme,"
           " s.updated_at,"
           " d.name AS deadline, d.due_at FROM referral_state s LEFT JOIN referral_deadline d ON d.referral_id ="
           " s.referral_id AND d.status = 'open'" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY s.updated_at DESC, s.referral_id LIMIT :limit")
    with store.transaction() as tx:
        rows = tx.fetchall(sql, params)
    for row in rows:
        row["overdue"] = bool(row["due_at"]) and row["due_at"] <= params["now"]
    return rows


def show_referral(store: Store, referral_id: str) -> dict | None:
    """One referral: its current row, whole status history, deadlines and escalation."""
    with store.transaction() as tx:
        current = tx.fetchone("SELECT * FROM referral_state WHERE referral_id = :id", {"id": referral_id})
        if current is None:
            return None
        history = tx.fetchall("SELECT occurred_at, recorded_at, from_state, to_state, source, reported_by,"
                              " business_status, reason, outcome FROM referral_status_history"
                              " WHERE referral_id = :id ORDER BY recorded_at, occurred_at, event_id",
                              {"id": referral_id})
        deadlines = tx.fetchall("SELECT name, started_at, due_at, status, closed_at FROM referral_deadline"
                                " WHERE referral_id = :id ORDER BY started_at", {"id": referral_id})
        escalation = tx.fetchone("SELECT status, excluded, reason, updated_at FROM referral_escalation"
                                 " WHERE request_id = :id", {"id": current.get("request_id") or ""})
    return {"referral": current, "history": history, "deadlines": deadlines, "escalation": escalation}


def open_at_endpoints(store: Store, kind: str, limit: int = 1000) -> list[tuple[str, str, str]]:
    """(referral, recipient, endpoint address) of open referrals a recipient holds at endpoints of
    `kind` (the delivery ledger's record of where each went): where providers' answers are read."""
    with store.transaction() as tx:
        rows = tx.fetchall(
            "SELECT l.referral_id, l.recipient_id, l.endpoint_address FROM delivery_ledger l JOIN referral_state s"
            " ON s.referral_id = l.referral_id WHERE l.endpoint_kind = :kind AND l.sent_message_id IS NOT NULL"
            " AND s.state IN ('requested', 'accepted', 'in-progress', 'on-hold') ORDER BY l.referral_id LIMIT :n",
            {"kind": kind, "n": limit})
    return [(row["referral_id"], row["recipient_id"], row["endpoint_address"]) for row in rows]
