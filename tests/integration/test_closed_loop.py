"""The closed loop on the real broker: a decline re-routes, a silent recipient past its
deadline is replaced, and when no one is left the request says so; a forbidden report
is refused and audited; state and deadlines are in the database, so a restarted worker
carries on where the last one stopped."""
from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from connectors.inbox import InboxConnector
from pipeline import records as r
from pipeline.app import Deps, runners
from pipeline.avro import Codec
from pipeline.clock import FixedClock
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.kafka.producer import ProducerSink
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.stage import Output, Writer
from pipeline.storage import open_store
from pipeline.track.sweep import sweep_deadlines
from pipeline.vocab import Category, Pathway, ReferralState, Service, SourceRole, StatusSource
from tests.support.kafka import until
from tests.support.factory import T0, envelope

pytestmark = pytest.mark.kafka
PERSON = r.PersonKey(person_token="tok-loop-1", key_version=1)
SUBJECT = r.Person(family="Okafor", given="Rowan", birth_date=date(1984, 6, 2), address=r.Address(county="Sangamon"))


def ems_request() -> r.ReferralRequest:
    """An EMS crew's overdose request: a treatment disclosure, no consent needed (§164.506(c))."""
    return r.ReferralRequest(envelope=envelope("PCR-LOOP-1"), request_id="req-loop-1", person=PERSON, episode_id="ep-loop",
                      service=Service.SUD_TREATMENT, categories=[Category.OPIOID_OVERDOSE],
                      pathway=Pathway.FIRST_RESPONDER, subject=SUBJECT, referring_agency="ems-012",
                      source_role=SourceRole.COVERED_ENTITY)


def provider_says(referral_id: str, state: ReferralState, n: int, source=StatusSource.PROVIDER) -> r.ReferralStatus:
    env = envelope(f"reply-{referral_id}-{n}", system="provider:test").model_copy(
        update={"event_id": f"reply:{referral_id}:{n}"})
    return r.ReferralStatus(envelope=env, referral_id=referral_id, state=state, source=source,
                            reported_by="provider:test", reason="no capacity this week" if n == 1 else "")



def migrated_store(tmp_path):
    """A migrated SQLite store and a query helper on it."""
    store = open_store(f"sqlite:///{tmp_path / 'loop.db'}")
    store.migrate()

    def rows(sql):
        with store.transaction() as tx:
            return tx.fetchall(sql)
    return store, rows


async def start(kafka, catalogue, store, clock):
    deps = Deps.build(Settings(environment="test"), catalogue, store, {"inbox": InboxConnector(store)}, clock)
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    for runner in runners(deps, FaustSink(app), Metrics()):
        attach(app, runner)
    await app.start()
    return app


async def test_decline_reroutes_silence_escalates_and_exhaustion_is_visible(kafka, catalogue, tmp_path):
    store, rows = migrated_store(tmp_path)
    clock = FixedClock(T0 + timedelta(hours=1))

    def inbox():
        return rows("SELECT referral_id, recipient_id FROM inbox_item ORDER BY received_at, delivery_id")

    app = await start(kafka, catalogue, store, clock)
    try:
        async with ProducerSink(kafka.bootstrap) as sink:
            writer = Writer(catalogue, sink, "test")
            request = ems_request()
            await writer.write([], [Output("referral.request", request.person, request)], [])
            [first] = await until(inbox)
            await until(lambda: rows("SELECT 1 AS x FROM referral_deadline WHERE status = 'open'"))

            # a late `requested` after acceptance does not go back; an accept from delivery is refused
            refused = provider_says(first["referral_id"], ReferralState.ACCEPTED, 9, source=StatusSource.DELIVERY)
            await writer.write([], [Output("referral.status", r.ReferralKey(referral_id=first["referral_id"]),
                                           refused)], [])
            await until(lambda: rows("SELECT 1 AS x FROM referral_status_history WHERE outcome = 'refused'"))

            # the first recipient declines: the request goes back through route and decide
            decline = provider_says(first["referral_id"], ReferralState.REJECTED, 1)
            await writer.write([], [Output("referral.status", r.ReferralKey(referral_id=first["referral_id"]),
                                           decline)], [])
            both = await until(lambda: len(inbox()) == 2 and inbox())
            [second] = [item for item in both if item["referral_id"] != first["referral_id"]]
            assert second["recipient_id"] != first["recipient_id"]  # the decliner is not asked again
            await until(lambda: rows(f"SELECT 1 AS x FROM referral_deadline WHERE referral_id ="
                                     f" '{second['referral_id']}' AND status = 'open'"))
    finally:
        await app.stop()

    # a restart: state and deadlines were in the database; the clock passes the second's deadline
    clock.advance(hours=25)
    app = await start(kafka, catalogue, store, clock)
    try:
        async with ProducerSink(kafka.bootstrap) as sink:
            assert await sweep_deadlines(store, Writer(catalogue, sink, "deadline-sweep"), clock) == 1
            await until(lambda: rows("SELECT status FROM referral_escalation WHERE status = 'exhausted'"))
            assert await sweep_deadlines(store, Writer(catalogue, sink, "deadline-sweep"), clock) == 0
        await asyncio.sleep(1.0)
    finally:
        await app.stop()

    states = {row["referral_id"]: row for row in rows("SELECT * FROM referral_state")}
    assert states[first["referral_id"]]["state"] == "rejected"
    assert states[second["referral_id"]]["state"] == "cancelled"  # silent past its deadline
    assert {states[k]["person_token"] for k in states} == {PERSON.person_token}
    assert len(inbox()) == 2  # no one else serves sud-treatment in Sangamon: nobody is asked twice
    [escalation] = rows("SELECT * FROM referral_escalation")
    assert escalation["status"] == "exhausted" and "no one left to ask" in escalation["reason"]
    history = rows("SELECT referral_id, to_state, outcome FROM referral_status_history")
    assert (first["referral_id"], "accepted", "refused") in {tuple(h.values()) for h in history}
    codec = Codec(r.AuditEvent)
    audits = [codec.decode(bytes(a["body"])) for a in rows("SELECT body FROM audit_record"
                                                            " WHERE kind = 'status-change'")]
    assert any(a.outcome == "refused" and "may not move" in a.detail["refused"] for a in audits)
    store.close()


async def test_a_report_on_a_referral_never_sent_is_parked_then_refused_after_the_parked_hours(kafka, catalogue,
                                                                                               tmp_path):
    """A provider's answer may overtake its referral's send status, so track parks it; one whose
    referral never gets a status (Handoff did not send it) is refused by the sweep, audited."""
    store, rows = migrated_store(tmp_path)
    clock = FixedClock(T0 + timedelta(hours=1))

    def parked():
        return [row["referral_id"] for row in rows("SELECT referral_id FROM referral_status_parked ORDER BY 1")]

    async def report(writer, referral_id):
        answer = provider_says(referral_id, ReferralState.ACCEPTED, 2)
        await writer.write([], [Output("referral.status", r.ReferralKey(referral_id=referral_id), answer)], [])

    app = await start(kafka, catalogue, store, clock)
    try:
        async with ProducerSink(kafka.bootstrap) as sink:
            writer = Writer(catalogue, sink, "test")
            await report(writer, "ref-never-sent")
            await until(lambda: parked() == ["ref-never-sent"])
            clock.advance(hours=70)
            await report(writer, "ref-late-send")  # parked 3 h when the sweep runs: it stays
            await until(lambda: len(parked()) == 2)
            clock.advance(hours=3)
            sweeper = Writer(catalogue, sink, "deadline-sweep")
            assert await sweep_deadlines(store, sweeper, clock, timedelta(hours=72)) == 1
            assert parked() == ["ref-late-send"]
            assert await sweep_deadlines(store, sweeper, clock, timedelta(hours=72)) == 0
            await until(lambda: len(rows("SELECT 1 AS x FROM audit_record WHERE kind = 'status-change'")) == 3)
    finally:
        await app.stop()
    [history] = rows("SELECT referral_id, to_state, outcome, reason FROM referral_status_history")
    assert history["referral_id"] == "ref-never-sent" and history["outcome"] == "refused"
    assert "after 72 h parked" in history["reason"]
    codec = Codec(r.AuditEvent)
    audits = {(a.referral_id, a.outcome) for a in (codec.decode(bytes(x["body"])) for x in
                                                   rows("SELECT body FROM audit_record WHERE kind = 'status-change'"))}
    assert audits == {("ref-never-sent", "parked"), ("ref-late-send", "parked"), ("ref-never-sent", "refused")}
    store.close()
