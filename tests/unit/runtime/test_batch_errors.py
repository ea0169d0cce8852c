"""A batch form may return one record's error in place of its result (the deliver stage does): the
other records' results stand, and that record alone is dead-lettered (permanent), handed to the
next retry topic (a peer's transient failure) or retried in place (a shared dependency)."""
from __future__ import annotations

from datetime import datetime, timezone

from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.deliver import sent_status
from pipeline.errors import Permanent, Transient
from pipeline.metrics import Metrics
from pipeline.stage import Incoming, OnError, Output, Result, Stage, StageRunner
from pipeline.topics import Catalogue
from pipeline.vocab import AuditKind
from tests.support.delivery import delivery

RETRY = ("delivery.retry.1m", "delivery.retry.10m")


def key(d) -> r.DeliveryKey:
    return r.DeliveryKey(referral_id=d.referral_id, recipient_id=d.recipient_id)


def status(d) -> Output:
    return Output("referral.status", r.ReferralKey(referral_id=d.referral_id), sent_status(d, False, d.envelope.occurred_at))


class Acks:
    """Acknowledges every record at once, keeping (topic, value) in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic, key, value, headers) -> None:
        self.sent.append((topic, value))


async def test_one_records_error_in_a_batch_leaves_the_others_results():
    cat = Catalogue(prefix="t", partitions=1)
    deliveries = [delivery("inbox", "x", pid=f"org-{n}") for n in range(4)]
    calls = {"one": 0}

    async def batch_fn(batch):
        return [Result(outputs=[status(d)]) if n in (0, 3) else
                Permanent("refused for good") if n == 1 else Transient("peer away", dependency="peer")
                for n, (d, _) in enumerate(batch)]

    def one(d, ctx):  # the per-record form: the retried-in-place path must not be taken here
        calls["one"] += 1
        return Result()

    stage = Stage("deliver", "delivery", one, AuditKind.DELIVERY_RESULT, ("referral.status", RETRY[0]),
                  OnError.RETRY_TOPICS, RETRY, batch_fn=batch_fn)
    sink, metrics = Acks(), Metrics()
    runner = StageRunner(stage, cat, sink, FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc)), metrics)
    source = cat["delivery"]
    await runner.handle_batch([Incoming(source.full_name, 0, i, source.key.encode(key(d)), source.value.encode(d))
                               for i, d in enumerate(deliveries)])
    topics = [topic for topic, _ in sink.sent if topic != cat["audit"].full_name]
    assert sorted(topics) == sorted([cat["referral.status"].full_name] * 2 + [cat.dead_letter_of("delivery").full_name]
                                    + [cat[RETRY[0]].full_name])
    assert calls["one"] == 0 and metrics.value(metrics.dead_lettered, "deliver") == 1
    retried = cat[RETRY[0]].value.decode(next(v for t, v in sink.sent if t == cat[RETRY[0]].full_name))
    assert retried.delivery_id == deliveries[2].delivery_id and retried.attempt == 1


async def test_a_shared_dependency_error_is_retried_in_place():
    cat = Catalogue(prefix="t", partitions=1)
    d = delivery("inbox", "x")

    async def batch_fn(batch):
        return [Transient("database busy", dependency="database")]

    tries = []

    def one(value, ctx):
        tries.append(value.delivery_id)
        return Result(outputs=[status(value)])

    stage = Stage("deliver", "delivery", one, AuditKind.DELIVERY_RESULT, ("referral.status", RETRY[0]),
                  OnError.RETRY_TOPICS, RETRY, batch_fn=batch_fn)
    sink = Acks()
    runner = StageRunner(stage, cat, sink, FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc)), Metrics())
    source = cat["delivery"]
    await runner.handle_batch([Incoming(source.full_name, 0, 0, source.key.encode(key(d)), source.value.encode(d))])
    assert tries == [d.delivery_id]
    assert [t for t, _ in sink.sent if t != cat["audit"].full_name] == [cat["referral.status"].full_name]
