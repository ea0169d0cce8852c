"""Track's store: history, the current row, deadlines armed / met / missed, escalation."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from pipeline import records as r
from pipeline.episode.state import REFERRAL
from pipeline.track import (apply_status, escalation_request, mark_missed, missed_deadlines, missed_status,
                            record_exhausted)
from pipeline.track.deadlines import load_deadlines
from pipeline.vocab import ReferralState as S
from pipeline.vocab import Service
from pipeline.vocab import StatusSource as Src

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
PERSON = r.PersonKey(person_token="tok-1", key_version=1)


def request() -> r.ReferralRequest:
    env = r.Envelope(event_id="request:req-1:r1", source_system="handoff:episode", source_record_id="req-1",
                     occurred_at=T0, ingested_at=T0, correlation_id="c-1")
    return r.ReferralRequest(envelope=env, request_id="req-1", person=PERSON, episode_id="ep-1",
                      service=Service.SUD_TREATMENT, referring_agency="ems-012")


def save_request(store, req: r.ReferralRequest) -> None:
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO episode_request (request_id, person_token, episode_id, service, revision, digest, body,"
                   " updated_at) VALUES (:id, :t, :e, :s, 1, 'd', :body, :at)",
                   {"id": req.request_id, "t": PERSON.person_token, "e": req.episode_id, "s": req.service.value,
                    "body": REFERRAL.encode(req), "at": T0.isoformat()})


def status(state: S, source: Src, at: datetime, n: int = 0, **extra) -> r.ReferralStatus:
    env = r.Envelope(event_id=f"status:ref-1:{state.value}:{source.value}:{n}", source_system="test",
                     source_record_id="ref-1", occurred_at=at, ingested_at=at, correlation_id="c-1")
    return r.ReferralStatus(envelope=env, referral_id="ref-1", state=state, source=source, reported_by="test",
                            **extra)


def rows(store, sql, params=None):
    with store.transaction() as tx:
        return tx.fetchall(sql, params or {})


def test_history_keeps_every_report_and_the_current_row_only_what_was_applied(migrated):
    save_request(migrated, request())
    deadlines = load_deadlines()
    sent = status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", person=PERSON, request_id="req-1")
    assert apply_status(migrated, sent, deadlines, T0).verdict.applied
    assert apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0 + timedelta(hours=2)), deadlines,
                        T0 + timedelta(hours=2)).verdict.applied
    late = apply_status(migrated, status(S.REQUESTED, Src.DELIVERY, T0 + timedelta(hours=3), n=1), deadlines,
                        T0 + timedelta(hours=3))
    assert late.verdict.refused and not late.verdict.applied
    again = apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0 + timedelta(hours=2)), deadlines, T0)
    assert again.duplicate  # the same event replayed: recorded once

    [current] = rows(migrated, "SELECT * FROM referral_state")
    assert current["state"] == "accepted"
    assert (current["recipient_id"], current["person_token"], current["request_id"]) == ("clinic-a", "tok-1", "req-1")
    assert (current["service"], current["programme"]) == ("sud-treatment", "ems-012")
    history = rows(migrated, "SELECT to_state, outcome, reason FROM referral_status_history ORDER BY recorded_at,"
                             " to_state")
    assert [(h["to_state"], h["outcome"]) for h in history] == [
        ("requested", "applied"), ("accepted", "applied"), ("requested", "refused")]
    assert "may not move" in history[2]["reason"]


def test_deadlines_are_armed_met_and_missed_by_the_clock(migrated):
    save_request(migrated, request())
    deadlines = load_deadlines()
    apply_status(migrated, status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1"),
                 deadlines, T0)
    [armed] = rows(migrated, "SELECT name, due_at, status FROM referral_deadline")
    assert (armed["name"], armed["status"]) == ("accept", "open")
    assert datetime.fromisoformat(armed["due_at"]) == T0 + timedelta(hours=24)

    assert missed_deadlines(migrated, T0 + timedelta(hours=23, minutes=59)) == []  # not yet: the boundary holds
    [missed] = missed_deadlines(migrated, T0 + timedelta(hours=24))
    assert (missed.referral_id, missed.name, missed.recipient_id) == ("ref-1", "accept", "clinic-a")
    cancel = missed_status(missed, T0 + timedelta(hours=25))
    assert cancel.state == S.CANCELLED and cancel.source == Src.TRACK
    later = missed_status(missed, T0 + timedelta(hours=26))  # a sweep after a restart names the same event
    assert later.envelope.event_id == cancel.envelope.event_id and later.envelope.occurred_at == missed.due_at
    verdict = apply_status(migrated, cancel, deadlines, T0 + timedelta(hours=25)).verdict
    assert verdict.applied and verdict.escalate
    mark_missed(migrated, [missed], T0 + timedelta(hours=25))
    assert rows(migrated, "SELECT status FROM referral_deadline")[0]["status"] in ("missed", "closed")
    assert missed_deadlines(migrated, T0 + timedelta(days=9)) == []


def test_an_answer_in_time_meets_the_deadline_and_arms_the_next(migrated):
    save_request(migrated, request())
    deadlines = load_deadlines()
    apply_status(migrated, status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1"),
                 deadlines, T0)
    apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0 + timedelta(hours=5)), deadlines,
                 T0 + timedelta(hours=5))
    got = {row["name"]: row for row in rows(migrated, "SELECT name, status, due_at FROM referral_deadline")}
    assert got["accept"]["status"] == "met"
    assert got["first-contact"]["status"] == "open"  # sud-treatment: 72 h from acceptance
    assert datetime.fromisoformat(got["first-contact"]["due_at"]) == T0 + timedelta(hours=5 + 72)
    assert missed_deadlines(migrated, T0 + timedelta(hours=30)) == []


def test_escalation_excludes_the_recipient_and_exhaustion_is_visible(migrated):
    save_request(migrated, request())
    first = escalation_request(migrated, "req-1", "clinic-a", "declined", T0)
    assert first is not None and first.exclude == ["clinic-a"]
    [row] = rows(migrated, "SELECT status, excluded FROM referral_escalation")
    assert row["status"] == "escalated" and json.loads(row["excluded"]) == ["clinic-a"]
    record_exhausted(migrated, first.model_copy(update={"exclude": ["clinic-a", "clinic-b"]}), T0)
    [row] = rows(migrated, "SELECT status, excluded, reason FROM referral_escalation")
    assert row["status"] == "exhausted" and "no one left to ask" in row["reason"]
    assert escalation_request(migrated, "req-gone", "clinic-a", "declined", T0) is None


def test_a_provider_may_report_only_on_referrals_it_received(migrated):
    save_request(migrated, request())
    apply_status(migrated, status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1"),
                 None, T0)
    other = apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0, n=1, recipient_id="clinic-b"), None, T0)
    assert "did not receive" in other.verdict.refused
    own = apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0, n=2, recipient_id="clinic-a"), None, T0)
    assert own.verdict.applied


def test_an_answer_before_the_referrals_send_status_is_parked_then_applied_after_it(migrated):
    """A provider's answer can overtake the deliver stage's `requested` (a crash, a full disk, a
    backlog delays the latter); the edge already acknowledged it, so it must not be lost."""
    from types import SimpleNamespace

    from pipeline.app import tracks
    from pipeline.stage import Context
    from pipeline.clock import FixedClock
    from pipeline.track import unpark

    save_request(migrated, request())
    deps = SimpleNamespace(store=migrated, deadlines=load_deadlines())  # the two Deps fields track reads
    ctx = Context("track", r.SourceRef(topic="referral.status", record_id="ref-1"), FixedClock(T0), "trace", 0, 0)
    early = status(S.REJECTED, Src.PROVIDER, T0, n=1, recipient_id="clinic-a", reason="no capacity")
    sent = status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1")
    [parked] = asyncio.run(tracks(deps, [(early, ctx)]))
    assert [a.outcome for a in parked.audits] == ["parked"] and not parked.outputs
    assert rows(migrated, "SELECT referral_id FROM referral_state") == []
    [result] = asyncio.run(tracks(deps, [(sent, ctx)]))
    assert [a.outcome for a in result.audits] == ["requested", "rejected"]  # the send, then the parked answer
    assert [o.value.exclude for o in result.outputs] == [["clinic-a"]]  # the decline asks the next recipient
    [row] = rows(migrated, "SELECT state FROM referral_state")
    assert row["state"] == "rejected" and unpark(migrated, "ref-1") == []
    [again] = asyncio.run(tracks(deps, [(early, ctx)]))  # a replay of the answer: a repeat, not parked again
    assert [a.detail["verdict"] for a in again.audits] == ["repeat"]
