"""The deliver stage's batch (pipeline/deliver/send.py `send_batch`) over the ledger (SQLite and
PostgreSQL), the inbox and a real MLLP peer on loopback: one failing delivery neither undoes nor
holds up the others, every attempt audit is written before any byte leaves, a referral's second
delivery waits for its first to settle, an MLLP endpoint gets its messages one at a time in order."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import SimpleNamespace

import pytest

from connectors.hl7v2_mllp import MllpConnector
from connectors.inbox import InboxConnector
from connectors.peers.mllp import MllpPeer
from pipeline.clock import FixedClock
from pipeline.deliver import ledger
from pipeline.deliver.send import REFUSED, Policy, lanes_of, plan, send_batch
from pipeline.errors import Transient
from pipeline.settings import MllpDelivery
from pipeline.storage.errors import StorageError, StorageUnavailable
from pipeline.vocab import Action, AuditKind, ReferralState
from tests.support.delivery import Audits, context, delivery
from tests.unit.render import cases as c

POLICY = Policy(lease_seconds=30, final_attempt=2, concurrency=4)


@pytest.fixture
async def peer():
    p = await MllpPeer().start()
    yield p
    await p.stop()


def mllp(timeout: float = 2.0, connect: float = 2.0) -> MllpConnector:
    return MllpConnector(MllpDelivery(ack_timeout=timeout, connect_timeout=connect))


def inbox_items(store) -> dict[str, int]:
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT referral_id, COUNT(*) AS n FROM inbox_item GROUP BY referral_id")
    return {row["referral_id"]: row["n"] for row in rows}


def ledger_states(store) -> dict[str, str]:
    with store.transaction() as tx:
        return {row["referral_id"]: row["state"] for row in tx.fetchall("SELECT referral_id, state FROM delivery_ledger")}


def fake(referral: str, kind: str, address: str = "a") -> SimpleNamespace:
    return SimpleNamespace(referral_id=referral, endpoint=SimpleNamespace(kind=kind, address=address))


def test_the_plan_keeps_a_referral_and_an_ordered_endpoint_in_order_and_the_concurrency():
    connectors = {"hl7v2-mllp": SimpleNamespace(per_endpoint=1), "inbox": SimpleNamespace(deliver_many=None),
                  "fhir-rest": SimpleNamespace()}
    lanes = lanes_of(connectors, Policy(concurrency=2))
    batch = [fake("a", "hl7v2-mllp", "e1"), fake("a", "hl7v2-mllp", "e1"), fake("b", "hl7v2-mllp", "e1"),
             fake("c", "inbox"), fake("d", "hl7v2-mllp", "e2"), fake("e", "inbox"), fake("f", "hl7v2-mllp", "e1")]
    assert plan(batch, lanes) == [[0, 3, 4, 5], [1], [2], [6]]  # e1: a, a again, b, f; the inbox in one round
    fhir = [fake(f"r{i}", "fhir-rest", f"server-{i}") for i in range(5)]
    assert plan(fhir, lanes) == [[0, 1], [2, 3], [4]]  # at most `concurrency` sends per connector at once
    assert plan([fake("x", "fhir-rest", "s1"), fake("x", "fhir-rest", "s1"), fake("y", "fhir-rest", "s2")],
                lanes) == [[0, 2], [1]]
    assert plan([fake("x", "fhir-rest"), fake("y", "fhir-rest")], lanes) == [[0], [1]]  # one server: one at a time
    parallel = lanes_of({"hl7v2-mllp": SimpleNamespace(per_endpoint=3)}, Policy(concurrency=8))
    assert plan([fake(f"m{i}", "hl7v2-mllp") for i in range(4)], parallel) == [[0, 1, 2], [3]]


async def test_a_batch_with_one_permanent_failure_delivers_the_others(migrated, peer):
    refusing = await MllpPeer(default="AR").start()
    try:
        batch = [delivery("inbox", "x", pid="org-a"), delivery("hl7v2-mllp", refusing.address, pid="org-b"),
                 delivery("hl7v2-mllp", peer.address, pid="org-c"), delivery("inbox", "x", pid="org-d")]
        audits = Audits()
        done = await send_batch(migrated, {"inbox": InboxConnector(migrated), "hl7v2-mllp": mllp()},
                                [(d, context(offset=i)) for i, d in enumerate(batch)], POLICY, audits)
    finally:
        await refusing.stop()
    assert [o.state for o in done] == ["sent", "failed", "sent", "sent"]
    assert "AR: receiving facility not served" in done[1].status.reason
    assert done[1].status.state == ReferralState.FAILED and done[1].audits[0].outcome == "failure"
    assert inbox_items(migrated) == {batch[0].referral_id: 1, batch[3].referral_id: 1}
    assert peer.referrals() == {batch[2].referral_id: ["I12"]}
    assert ledger_states(migrated) == {batch[0].referral_id: "sent", batch[1].referral_id: "failed",
                                       batch[2].referral_id: "sent", batch[3].referral_id: "sent"}
    assert [a.outcome for a in audits.written] == ["attempt"] * 4  # written at once, before the sends


async def test_a_transient_failure_is_returned_after_its_audit_and_the_others_go_through(migrated, peer):
    gone = await MllpPeer().start()
    address = gone.address
    await gone.stop()
    batch = [delivery("hl7v2-mllp", address, pid="org-a"), delivery("inbox", "x", pid="org-b"),
             delivery("hl7v2-mllp", peer.address, pid="org-c")]
    audits = Audits()
    done = await send_batch(migrated, {"inbox": InboxConnector(migrated), "hl7v2-mllp": mllp(connect=1)},
                            [(d, context(offset=i)) for i, d in enumerate(batch)], POLICY, audits)
    assert isinstance(done[0], Transient) and [o.state for o in done[1:]] == ["sent", "sent"]
    assert [a.outcome for a in audits.written] == ["attempt"] * 3 + ["retry"]  # the result on record, then raised
    assert ledger_states(migrated)[batch[0].referral_id] == "retry"
    again = await send_batch(migrated, {"hl7v2-mllp": mllp(connect=1)}, [(batch[0], context())], POLICY, Audits())
    assert again[0].state == "failed" and "gave up after 2 sends" in again[0].status.reason  # final_attempt


async def test_every_attempt_is_audited_before_any_byte_leaves(migrated, peer):
    seen: list[tuple[int, dict]] = []

    class Watching(Audits):
        async def __call__(self, audits) -> None:
            seen.append((len(peer.received), inbox_items(migrated)))
            await super().__call__(audits)

    batch = [delivery("hl7v2-mllp", peer.address, pid=f"org-m{i}") for i in range(3)] + \
            [delivery("inbox", "x", pid=f"org-i{i}") for i in range(3)]
    done = await send_batch(migrated, {"inbox": InboxConnector(migrated), "hl7v2-mllp": mllp()},
                            [(d, context(offset=i)) for i, d in enumerate(batch)], POLICY, Watching())
    assert [o.state for o in done] == ["sent"] * 6
    assert seen[0] == (0, {})  # the first round's audits: nothing had reached a recipient
    assert all(received == n for n, (received, _) in enumerate(seen))  # each later round: only earlier rounds' sends
    assert [a.kind for a in done[0].audits] == [AuditKind.DELIVERY_RESULT]
    assert peer.referrals() == {d.referral_id: ["I12"] for d in batch[:3]}


async def test_an_update_in_the_same_batch_as_its_create_follows_it(migrated, peer):
    create = delivery("hl7v2-mllp", peer.address)
    changed = c.ems_request(revision=2).model_copy(update={"subject": c.patient().model_copy(
        update={"phone": "217-555-0100"})})
    update = delivery("hl7v2-mllp", peer.address, revision=2, action=Action.UPDATE, request=changed)
    done = await send_batch(migrated, {"hl7v2-mllp": mllp()}, [(create, context()), (update, context(offset=1))],
                            POLICY, Audits())
    assert [o.state for o in done] == ["sent", "sent"]
    assert peer.referrals() == {create.referral_id: ["I12", "I13"]}
    assert ledger.holdings(migrated, [create.referral_id])[create.referral_id].message_id == update.message_id


async def test_a_failing_claim_or_settling_is_undone_alone(migrated):
    batch = [delivery("inbox", "x", pid=f"org-{n}") for n in "abc"]

    def vet(d, now):  # the consent re-read: b's registry read fails, c's consent was revoked
        if d is batch[1]:
            raise StorageError("registry unreadable")
        return ["consent revoked"] if d is batch[2] else []

    done = await send_batch(migrated, {"inbox": InboxConnector(migrated)}, [(d, context()) for d in batch], POLICY,
                            Audits(), vet=vet)
    assert done[0].state == "sent" and isinstance(done[1], StorageError)
    assert done[2].state == REFUSED and done[2].problems == ("consent revoked",)
    assert ledger_states(migrated) == {batch[0].referral_id: "sent"} and len(inbox_items(migrated)) == 1

    more = [delivery("inbox", "x", pid=f"org-{n}") for n in "de"]

    def used(d, now):  # kept in the settling's transaction: e's fails, so its settling is undone with it
        if d.referral_id == more[1].referral_id:
            raise StorageError("consent_use unwritable")

    done = await send_batch(migrated, {"inbox": InboxConnector(migrated)}, [(d, context()) for d in more], POLICY,
                            Audits(), on_sent=used)
    assert done[0].state == "sent" and isinstance(done[1], StorageError)
    states = ledger_states(migrated)
    assert states[more[0].referral_id] == "sent" and states[more[1].referral_id] == "in-flight"  # resent after the lease


async def test_a_replay_of_a_settled_batch_sends_nothing_and_repeats_its_results(migrated, peer):
    batch = [(delivery("hl7v2-mllp", peer.address, pid=f"org-{n}"), context(offset=n)) for n in range(3)]
    first = await send_batch(migrated, {"hl7v2-mllp": mllp()}, batch, POLICY, Audits())
    audits = Audits()
    again = await send_batch(migrated, {"hl7v2-mllp": mllp()}, batch, POLICY, audits)
    assert len(peer.received) == 3 and audits.written == []
    assert [o.status.envelope.event_id for o in again] == [o.status.envelope.event_id for o in first]
    assert [o.audits[0].audit_id for o in again] == [o.audits[0].audit_id for o in first]


def message_states(store) -> dict[str, str]:
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT message_id, state FROM delivery_message")
    return {row["message_id"]: row["state"] for row in rows}


async def test_a_send_acknowledged_whose_settling_fails_is_on_record_as_a_disclosure_at_once(migrated, peer):
    """Found by the CI fault campaign: a Direct message the HISP accepted while the database's disk was
    full (the settling failed), whose resends then met 451 until the retry tiers ran out, was held by
    the recipient with no disclosure on record. The disclosure is written when the acknowledgement comes;
    a resend that then fails keeps the message unconfirmed; the replay that settles it writes the same record."""
    policy = Policy(lease_seconds=30, final_attempt=6, concurrency=4)
    sent = delivery("hl7v2-mllp", peer.address)

    def disk_full(_delivery, _now) -> None:  # raised inside the settling transaction, as the database would
        raise StorageUnavailable("database or disk is full")

    audits = Audits()
    [done] = await send_batch(migrated, {"hl7v2-mllp": mllp()}, [(sent, context())], policy, audits, on_sent=disk_full)
    assert isinstance(done, StorageUnavailable)  # back to the stage's retries
    assert peer.referrals() == {sent.referral_id: ["I12"]}
    assert [(a.kind, a.outcome) for a in audits.written] == [(AuditKind.DELIVERY_ATTEMPT, "attempt"),
                                                             (AuditKind.DELIVERY_RESULT, "delivered")]
    disclosure = audits.written[1]
    assert disclosure.detail["message_id"] == sent.message_id
    assert message_states(migrated) == {sent.message_id: "in-flight"}  # the settling was undone

    port = peer.port
    await peer.stop()  # the recipient away when the lease has run out: the resend fails
    later = FixedClock(c.T0 + timedelta(seconds=31))
    audits = Audits()
    [done] = await send_batch(migrated, {"hl7v2-mllp": mllp(connect=1)}, [(sent, context(later))], policy, audits)
    assert isinstance(done, Transient)
    assert [a.outcome for a in audits.written] == ["attempt", "retry"]
    assert "did not settle" in audits.written[0].detail["resend"]
    assert message_states(migrated) == {sent.message_id: "ambiguous"}  # the recipient may still hold the first

    again = await MllpPeer().start(port)
    try:
        audits = Audits()
        at = context(FixedClock(c.T0 + timedelta(seconds=40)))
        [done] = await send_batch(migrated, {"hl7v2-mllp": mllp()}, [(sent, at)], policy, audits)
    finally:
        await again.stop()
    assert done.state == "sent" and done.audits[0].audit_id == disclosure.audit_id  # the sink keeps one
    assert message_states(migrated) == {sent.message_id: "sent"}


async def test_a_message_the_recipient_may_hold_is_an_unconfirmed_disclosure_when_its_last_try_fails(migrated, peer):
    """A worker killed between the recipient's acknowledgement and the settling leaves the message in
    flight; every resend then fails (the recipient busy) until the last retry tier gives it up. The
    recipient holds it: the give-up puts an `unconfirmed` disclosure on record (before the fix: none)."""
    policy = Policy(lease_seconds=30, final_attempt=6, concurrency=4)
    sent = delivery("hl7v2-mllp", peer.address)
    assert ledger.claim(migrated, sent, c.T0, 30).outcome == ledger.SEND  # the killed worker's claim and send
    await mllp().deliver(sent)
    await peer.stop()

    audits = Audits()
    tier = context(FixedClock(c.T0 + timedelta(seconds=31)))
    [done] = await send_batch(migrated, {"hl7v2-mllp": mllp(connect=1)}, [(sent, tier)], policy, audits)
    assert isinstance(done, Transient) and [a.outcome for a in audits.written] == ["attempt", "retry"]  # more tiers

    audits = Audits()
    last = dataclasses.replace(context(FixedClock(c.T0 + timedelta(seconds=62))), last_try=True)
    [done] = await send_batch(migrated, {"hl7v2-mllp": mllp(connect=1)}, [(sent, last)], policy, audits)
    assert isinstance(done, Transient)  # the stage dead-letters it
    assert [(a.kind, a.outcome) for a in audits.written] == [
        (AuditKind.DELIVERY_ATTEMPT, "attempt"), (AuditKind.DELIVERY_ATTEMPT, "retry"),
        (AuditKind.DELIVERY_RESULT, "unconfirmed")]
    assert audits.written[2].detail["message_id"] == sent.message_id
    assert peer.referrals() == {sent.referral_id: ["I12"]}  # what the killed worker's send left with the recipient
