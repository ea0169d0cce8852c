"""The consent gate on the real broker: a held request released by a completed consent, a
revocation cancelling pending and sent work, and a revocation between decide and send."""
from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest

from connectors.inbox import InboxConnector
from pipeline import records as r
from pipeline.app import Deps, _delivery, runners
from pipeline.clock import FixedClock
from pipeline.consent import Recipient, publish_pending
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.kafka.producer import ProducerSink
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.stage import Context, Writer
from pipeline.storage import open_store
from pipeline.vocab import (Category, ConsentKind, ConsentStatus, DataCategory, Outcome, Pathway, Purpose,
                            ReferralState, Service)
from tests.support.factory import T0, envelope
from tests.support.kafka import consume, until

pytestmark = pytest.mark.kafka
NOW = T0 + timedelta(hours=1)
PERSON = r.PersonKey(person_token="tok-gate-1", key_version=1)
SUBJECT = r.Person(family="Haddad", given="Quinn", birth_date=date(1990, 1, 2), address=r.Address(county="Sangamon"))


def officer_request(n: int, service: Service = Service.SUD_TREATMENT) -> r.ReferralRequest:
    env = envelope(f"FR-{n}", system="field:pd-east").model_copy(update={"event_id": f"field:pd-east:FR-{n}"})
    return r.ReferralRequest(envelope=env, request_id=f"req-{n}", person=PERSON, episode_id=f"ep-{n}",
                      service=service, categories=[Category.OPIOID_OVERDOSE],
                      pathway=Pathway.OFFICER_INTERVENTION, subject=SUBJECT)


def complete(cid: str, recipient: str) -> r.ConsentRecord:
    return r.ConsentRecord(consent_id=cid, kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=[recipient],
                           purposes=[Purpose.TREATMENT, Purpose.CARE_COORDINATION],
                           data_categories=[DataCategory.GENERAL, DataCategory.SUD], signed_at=T0,
                           artefact_ref=f"doc:{cid}", period_end=T0 + timedelta(days=365))



async def test_hold_release_revoke_and_a_revocation_before_sending(kafka, catalogue, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    deps = Deps.build(Settings(environment="test"), catalogue, store, {"inbox": InboxConnector(store)},
                      FixedClock(NOW))
    gate = deps.gate
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    for runner in runners(deps, FaustSink(app), Metrics()):
        attach(app, runner)
    await app.start()

    def rows(sql):
        with store.transaction() as tx:
            return tx.fetchall(sql)

    try:
        async with ProducerSink(kafka.bootstrap) as sink:
            writer = Writer(catalogue, sink, "test")
            first = officer_request(1)
            await writer.write([], [_out("referral.request", first.person, first)], [])
            [pending] = await consume(kafka.bootstrap, catalogue["consent.pending"], 1)
            assert pending.person == PERSON
            [hold] = await until(lambda: rows("SELECT referral_id, recipient_id FROM consent_hold"
                                              " WHERE status = 'held'"))
            recipient = hold["recipient_id"]

            # the consent is completed: the registry commits, produces the set; the gate releases
            gate.registry.put(PERSON, complete("c-1", recipient), NOW, "user:outreach")
            assert await publish_pending(gate.registry, writer, NOW) == 1
            [delivery] = await consume(kafka.bootstrap, catalogue["delivery"], 1)
            assert delivery.referral_id == hold["referral_id"] and delivery.decision.consent_id == "c-1"
            assert delivery.decision.basis.value == "part2-consent" and delivery.decision.notice
            await until(lambda: rows("SELECT referral_id FROM consent_use WHERE status = 'open'"))
            assert rows("SELECT referral_id FROM inbox_item") == [{"referral_id": hold["referral_id"]}]

            # a second request held, then the person revokes: pending and sent work are cancelled
            second = officer_request(2, Service.PEER_RECOVERY)  # another recipient: c-1 does not name it
            await writer.write([], [_out("referral.request", second.person, second)], [])
            [other] = await until(lambda: rows("SELECT referral_id FROM consent_hold WHERE status = 'held'"))
            gate.registry.revoke("c-1", NOW, "user:outreach")
            await publish_pending(gate.registry, writer, NOW)
            await until(lambda: len(rows("SELECT referral_id FROM referral_state WHERE state = 'cancelled'")) == 2)
            cancelled = {c["referral_id"]: c for c in rows("SELECT referral_id, state FROM referral_state")}
            assert cancelled[hold["referral_id"]]["state"] == "cancelled"  # sent: the recipient is told
            assert cancelled[other["referral_id"]]["state"] == "cancelled"  # held: it never leaves
            assert rows("SELECT status FROM consent_hold WHERE referral_id = '%s'" % other["referral_id"]) == [
                {"status": "cancelled"}]
            # the recipient that holds the referral is told (Task cancelled, at the endpoint of that send);
            # the hold that never left sends nothing
            told = await until(lambda: [json.loads(x["payload"]) for x in rows(
                "SELECT payload FROM inbox_item WHERE referral_id = '%s' ORDER BY received_at" % hold["referral_id"])
                if b'"cancelled"' in bytes(x["payload"])])
            [task] = [e["resource"] for e in told[0]["entry"] if e["resource"]["resourceType"] == "Task"]
            assert task["status"] == "cancelled" and "revoked" in task["statusReason"]["text"]
            assert not rows("SELECT 1 AS x FROM inbox_item WHERE referral_id = '%s'" % other["referral_id"])

            # a revocation between decide and send: the deliver stage re-reads the registry and cancels
            gate.registry.put(PERSON, complete("c-2", recipient), NOW, "user:outreach")
            third = officer_request(3)
            [decision] = gate.decide(third, [(Recipient(recipient, "health-care-provider"), Purpose.TREATMENT)], NOW)
            assert decision.outcome == Outcome.PERMIT and decision.consent_id == "c-2"
            provider = deps.directory.current().get(recipient)
            ctx = Context("test", r.SourceRef(topic="test", record_id="x"), deps.clock, "")
            late = _delivery(deps, third, [], {}, {}, decision, provider, ctx)
            gate.registry.revoke("c-2", NOW, "user:outreach")
            await writer.write([], [_out("delivery", r.DeliveryKey(referral_id=late.referral_id,
                                                                    recipient_id=recipient), late)], [])
            await until(lambda: rows(f"SELECT 1 AS x FROM referral_state WHERE referral_id = '{late.referral_id}'"
                                     " AND state = 'cancelled'"))
            assert late.referral_id not in {x["referral_id"] for x in rows("SELECT referral_id FROM inbox_item")}
            statuses = await consume(kafka.bootstrap, catalogue["referral.status"], 4, timeout=10)
            late_status = [s for s in statuses if s.referral_id == late.referral_id]
            assert [s.state for s in late_status] == [ReferralState.CANCELLED]
            assert "revoked" in late_status[0].reason
            await asyncio.sleep(1.0)
            audits = rows("SELECT kind, referral_id FROM audit_record")
    finally:
        await app.stop()
        store.close()
    decided = {(a["kind"], a["referral_id"]) for a in audits}
    for ref in (hold["referral_id"], other["referral_id"], late.referral_id):
        assert ("decision", ref) in decided  # every hold, release and re-check is on record


def _out(topic, key, value):
    from pipeline.stage import Output
    return Output(topic, key, value)
