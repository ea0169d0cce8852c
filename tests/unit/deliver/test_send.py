"""The send policy over the ledger (SQLite and PostgreSQL) with a real MLLP peer: one send in
flight, nothing new for nothing new, attempt audit before the send and the result after,
ambiguous sends resent with the same control id and flagged, permanent failures final."""
from __future__ import annotations

import pytest

from connectors.hl7v2_mllp import MllpConnector
from connectors.peers.mllp import MllpPeer
from pipeline.clock import FixedClock
from pipeline.deliver import Ambiguous, ledger
from pipeline.deliver.send import Policy
from pipeline.errors import Transient
from pipeline.settings import MllpDelivery
from pipeline.vocab import AuditKind, ReferralState
from tests.support.delivery import Audits, amended, context, delivery, send
from tests.unit.render import cases as c

POLICY = Policy(lease_seconds=30, final_attempt=2)


@pytest.fixture
async def peer():
    p = await MllpPeer().start()
    yield p
    await p.stop()


def mllp(timeout: float = 2.0) -> MllpConnector:
    return MllpConnector(MllpDelivery(ack_timeout=timeout))


async def test_sent_once_then_unchanged_and_audited_before_and_after(migrated, peer):
    d, audits = delivery("hl7v2-mllp", peer.address), Audits()
    first = await send(migrated, mllp(), d, context(), POLICY, audits)
    assert first.state == "sent" and first.status.state == ReferralState.REQUESTED
    assert [a.kind for a in audits.written] == [AuditKind.DELIVERY_ATTEMPT]  # written before the send
    assert [a.kind for a in first.audits] == [AuditKind.DELIVERY_RESULT] and first.audits[0].outcome == "delivered"
    again = await send(migrated, mllp(), d, context(offset=1), POLICY, audits)  # a replay after the send settled
    assert again.state == "unchanged" and len(peer.received) == 1  # nothing sent; its result produced again,
    assert again.status.envelope.event_id == first.status.envelope.event_id  # under the same ids (a crash may
    assert [a.audit_id for a in again.audits] == [a.audit_id for a in first.audits]  # have lost the first)
    other = d.model_copy(update={"message_id": "ANOTHER", "delivery_id": "x:ANOTHER"})  # same content, other message
    assert (await send(migrated, mllp(), other, context(offset=2), POLICY, audits)).audits == []
    held = ledger.holdings(migrated, [d.referral_id])[d.referral_id]
    assert (held.message_id, held.digest, held.endpoint) == (d.message_id, d.content_digest, d.endpoint)


async def test_an_update_with_new_content_goes_out_an_older_revision_does_not(migrated, peer):
    first = delivery("hl7v2-mllp", peer.address)
    await send(migrated, mllp(), first, context(), POLICY, Audits())
    update = amended("hl7v2-mllp", peer.address, 2, "217-555-0100")  # an amended PCR: a new phone number
    assert update.content_digest != first.content_digest
    assert (await send(migrated, mllp(), update, context(), POLICY, Audits())).state == "sent"
    stale = first.model_copy(update={"content_digest": "an older body", "revision": 1})
    assert (await send(migrated, mllp(), stale, context(), POLICY, Audits())).state == "stale"
    assert peer.referrals() == {first.referral_id: ["I12", "I13"]}


async def test_an_update_waits_until_its_create_has_settled(migrated, peer):
    """A create without an answer (ambiguous, resent later) is not overtaken by the update rendered
    meanwhile: the recipient gets I12 then I13, never the update first or two creates."""
    create = delivery("hl7v2-mllp", peer.address)
    update = amended("hl7v2-mllp", peer.address, 2, "217-555-0100")
    clock = FixedClock(c.T0)
    peer.script = ["silent"]  # kept, never acknowledged
    with pytest.raises(Ambiguous):
        await send(migrated, mllp(timeout=0.3), create, context(clock), POLICY, Audits())
    with pytest.raises(Transient, match="waits for the referral's create"):
        await send(migrated, mllp(), update, context(clock), POLICY, Audits())
    assert (await send(migrated, mllp(), create, context(clock), POLICY, Audits())).state == "sent"
    assert (await send(migrated, mllp(), update, context(clock), POLICY, Audits())).state == "sent"
    assert peer.referrals() == {create.referral_id: ["I12", "I13"]}


def test_the_first_content_rendered_is_the_create_and_is_kept(migrated):
    assert ledger.first_renders(migrated, ["ref-a"]) == {}
    ledger.rendered(migrated, {"ref-a": "digest-1"}, c.T0)
    ledger.rendered(migrated, {"ref-a": "digest-2"}, c.T0)  # later content (or a replay) changes nothing
    assert ledger.first_renders(migrated, ["ref-a", "ref-b"]) == {"ref-a": "digest-1"}


async def test_one_send_in_flight_per_referral(migrated, peer):
    d = delivery("hl7v2-mllp", peer.address)
    clock = FixedClock(c.T0)
    assert ledger.claim(migrated, d, clock.now(), 30).outcome == ledger.SEND  # another worker is sending
    with pytest.raises(Transient, match="in flight"):
        await send(migrated, mllp(), d, context(clock), POLICY, Audits())
    clock.advance(seconds=31)  # that worker died: its lease ran out; the same message goes again
    outcome = await send(migrated, mllp(), d, context(clock), POLICY, Audits())
    assert outcome.state == "sent" and "did not settle" in outcome.detail
    assert outcome.audits[0].detail["resend"].startswith("resent")


async def test_ambiguous_is_retried_with_the_same_control_id_and_flagged(migrated, peer):
    d, audits = delivery("hl7v2-mllp", peer.address), Audits()
    peer.script = ["silent"]
    with pytest.raises(Ambiguous):
        await send(migrated, mllp(0.3), d, context(), POLICY, audits)
    assert [a.outcome for a in audits.written] == ["attempt", "ambiguous"]
    retried = d.model_copy(update={"attempt": 1})
    outcome = await send(migrated, mllp(), retried, context(offset=1), POLICY, audits)
    assert outcome.state == "sent" and "no answer" in outcome.detail
    assert len(peer.received) == 2 and peer.referrals() == {d.referral_id: ["I12"]}


async def test_permanent_failure_is_final_with_the_reason(migrated):
    peer = await MllpPeer(default="AR").start()
    try:
        outcome = await send(migrated, mllp(), delivery("hl7v2-mllp", peer.address), context(), POLICY, Audits())
    finally:
        await peer.stop()
    assert outcome.state == "failed" and outcome.status.state == ReferralState.FAILED
    assert "AR: receiving facility not served" in outcome.status.reason
    assert outcome.audits[0].outcome == "failure"


async def test_a_transient_failure_at_the_final_attempt_is_failed(migrated, peer):
    address = peer.address
    await peer.stop()
    d = delivery("hl7v2-mllp", address)
    with pytest.raises(Transient):
        await send(migrated, MllpConnector(MllpDelivery(connect_timeout=1)), d, context(), POLICY, Audits())
    outcome = await send(migrated, MllpConnector(MllpDelivery(connect_timeout=1)), d, context(), POLICY, Audits())
    assert outcome.state == "failed" and "gave up after 2 sends" in outcome.status.reason


async def test_latency_from_ingest_to_acknowledgement_and_failures_by_connector(migrated, peer):
    from datetime import timedelta

    from pipeline.metrics import Metrics

    metrics, d = Metrics(), delivery("hl7v2-mllp", peer.address)
    clock = FixedClock(d.envelope.ingested_at + timedelta(seconds=42))
    peer.script = ["silent"]
    with pytest.raises(Ambiguous):
        await send(migrated, mllp(0.3), d, context(clock), POLICY, Audits(), metrics)
    assert metrics.delivery_latency.labels("hl7v2-mllp")._sum.get() == 0  # nothing acknowledged yet
    outcome = await send(migrated, mllp(), d, context(clock, offset=1), POLICY, Audits(), metrics)
    assert outcome.state == "sent"
    samples = {(s.name, s.labels.get("le")): s.value for s in metrics.delivery_latency.collect()[0].samples
               if s.labels.get("connector") == "hl7v2-mllp"}
    assert samples[("handoff_delivery_latency_seconds_sum", None)] == 42.0
    assert samples[("handoff_delivery_latency_seconds_bucket", "30.0")] == 0
    assert samples[("handoff_delivery_latency_seconds_bucket", "60.0")] == 1
    assert metrics.delivery_failures.labels("hl7v2-mllp", "ambiguous")._value.get() == 1
    refusing = await MllpPeer(default="AR").start()
    try:
        again = delivery("hl7v2-mllp", refusing.address, pid="org-other")
        assert (await send(migrated, mllp(), again, context(clock), POLICY, Audits(), metrics)).state == "failed"
    finally:
        await refusing.stop()
    assert metrics.delivery_failures.labels("hl7v2-mllp", "failed")._value.get() == 1
    assert metrics.delivery_failures.labels("hl7v2-mllp", "retry")._value.get() == 0


async def test_the_requested_status_is_dated_at_the_acknowledgement_so_deadlines_count_from_the_send(migrated, peer):
    """A report sent a month after its call: the provider still gets the accept deadline's 24 h from
    the send (dated at the call, the sweep cancelled such referrals within a minute)."""
    from datetime import timedelta

    from pipeline.track import apply_status
    from pipeline.track.deadlines import load_deadlines

    d, sent_at = delivery("hl7v2-mllp", peer.address), c.T0 + timedelta(days=30)
    outcome = await send(migrated, mllp(), d, context(FixedClock(sent_at)), POLICY, Audits())
    assert d.envelope.occurred_at < sent_at and outcome.status.envelope.occurred_at == sent_at
    apply_status(migrated, outcome.status, load_deadlines(), sent_at)
    with migrated.transaction() as tx:
        row = tx.fetchone("SELECT started_at, due_at FROM referral_deadline WHERE referral_id = :id AND name = 'accept'",
                          {"id": d.referral_id})
    assert (row["started_at"], row["due_at"]) == (sent_at.isoformat(), (sent_at + timedelta(hours=24)).isoformat())


async def test_a_replayed_update_re_emits_its_result_after_a_later_update_settled(migrated, peer):
    """Round 7's big fault run: 483 held messages without a result record. A deliver batch with several
    updates of one referral writes their results at its end; a crash before it replays the batch, and
    the earlier update met a ledger naming the later one: 'stale', and its result was never written."""
    await send(migrated, mllp(), delivery("hl7v2-mllp", peer.address), context(), POLICY, Audits())
    first, later = (amended("hl7v2-mllp", peer.address, 2, "217-555-0100"),
                    amended("hl7v2-mllp", peer.address, 3, "217-555-0101"))
    sent = await send(migrated, mllp(), first, context(offset=1), POLICY, Audits())
    assert sent.state == "sent"
    assert (await send(migrated, mllp(), later, context(offset=2), POLICY, Audits())).state == "sent"
    assert len(peer.received) == 3  # the create and both updates are held
    again = await send(migrated, mllp(), first, context(offset=1), POLICY, Audits())  # the first update replayed
    assert [a.audit_id for a in again.audits] == [a.audit_id for a in sent.audits]  # its result produced again
    assert again.state == "stale" and again.status is None and len(peer.received) == 3  # nothing sent, no status


async def test_an_update_sent_without_an_answer_then_replaced_is_on_record_as_unconfirmed(migrated, peer):
    """Round 8's big fault run: 13 of 64,080 held messages without a result record. An update went out,
    the receiver kept it but never answered (a withheld ACK, a reset); a later update was sent and
    acknowledged; the first one's retry was then stale and wrote nothing, though the recipient held it.
    Now its retry sends nothing and writes an `unconfirmed` disclosure record (a possible disclosure)."""
    await send(migrated, mllp(), delivery("hl7v2-mllp", peer.address), context(), POLICY, Audits())
    first, later = (amended("hl7v2-mllp", peer.address, 2, "217-555-0100"),
                    amended("hl7v2-mllp", peer.address, 3, "217-555-0101"))
    peer.script = ["silent"]  # kept, never acknowledged
    with pytest.raises(Ambiguous):
        await send(migrated, mllp(timeout=0.3), first, context(offset=1), POLICY, Audits())
    assert (await send(migrated, mllp(), later, context(offset=2), POLICY, Audits())).state == "sent"
    retried = await send(migrated, mllp(), first, context(offset=1), POLICY, Audits())
    assert retried.state == "stale" and retried.status is None and len(peer.received) == 3  # not sent again
    assert [(a.kind, a.outcome, a.detail["message_id"]) for a in retried.audits] == \
        [(AuditKind.DELIVERY_RESULT, "unconfirmed", first.message_id)]
