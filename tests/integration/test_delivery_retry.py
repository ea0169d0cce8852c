"""Delivery retries through delivery.retry.1m|10m|1h on the real broker, with a real in-process
connector whose recipient times out (no mock of Kafka): each tier waits for its record's
not_before without holding up fresh deliveries; after the last tier, delivery.dlq retryable=true."""
from __future__ import annotations

import asyncio
import time

import pytest

from connectors.inbox import InboxConnector
from pipeline import records as r
from pipeline.app import Deps, runners
from pipeline.clock import SystemClock
from pipeline.errors import Transient
from handoff.worker import consumer_options
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.stage import RetryPolicy
from pipeline.storage import open_store
from tests.support.kafka import consume, produce
from tests.support.samples import samples

pytestmark = pytest.mark.kafka

DELAYS = (1.0, 2.0, 3.0)  # stand-ins for 1m, 10m, 1h


class TimingOutInbox:
    """The inbox connector behind a recipient that times out the first `failures[delivery_id]` times."""

    name = "inbox"

    def __init__(self, store, failures: dict[str, int]) -> None:
        self.inbox = InboxConnector(store)
        self.failures = failures
        self.tries: dict[str, list[tuple[float, int]]] = {}

    async def deliver(self, delivery: r.Delivery):
        tries = self.tries.setdefault(delivery.delivery_id, [])
        tries.append((time.monotonic(), delivery.attempt))
        if len(tries) <= self.failures.get(delivery.delivery_id, 0):
            raise Transient("the recipient timed out", dependency="peer")
        return await self.inbox.deliver(delivery)

    async def aclose(self) -> None:
        return None


def delivery(n: int) -> r.Delivery:
    return samples()[r.Delivery].model_copy(update={"delivery_id": f"d-{n}", "referral_id": f"ref-{n}",
                                                    "message_id": f"m-{n}"})


async def test_retry_tiers_wait_for_not_before_then_dead_letter_retryable(kafka, catalogue, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    never, third_time, fresh = delivery(1), delivery(2), delivery(3)
    connector = TimingOutInbox(store, {"d-1": 99, "d-2": 2})
    deps = Deps.build(Settings(environment="test"), catalogue, store, {"inbox": connector}, SystemClock())
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    policy = RetryPolicy(attempts=3, backoff=(0.1,), tier_delays=DELAYS)
    for runner in runners(deps, FaustSink(app), Metrics(), policy,
                          names=["deliver", "deliver-1m", "deliver-10m", "deliver-1h"]):
        attach(app, runner)
    key = lambda d: r.DeliveryKey(referral_id=d.referral_id, recipient_id=d.recipient_id)  # noqa: E731
    await app.start()
    try:
        await produce(kafka.bootstrap, catalogue["delivery"], [(key(never), never), (key(third_time), third_time)])
        statuses = await consume(kafka.bootstrap, catalogue["referral.status"], 1, timeout=60)
        fresh_sent = time.monotonic()
        await produce(kafka.bootstrap, catalogue["delivery"], [(key(fresh), fresh)])
        statuses = await consume(kafka.bootstrap, catalogue["referral.status"], 2, timeout=60)
        fresh_done = time.monotonic()
        [letter] = await consume(kafka.bootstrap, catalogue["delivery.dlq"], 1, timeout=60)
    finally:
        await app.stop()

    # d-2 got through on its third try, from delivery.retry.10m, once; d-3 at once, not behind d-1's wait
    assert sorted(s.referral_id for s in statuses) == ["ref-2", "ref-3"]
    assert fresh_done - fresh_sent < DELAYS[1]
    with store.transaction() as tx:
        assert [i["delivery_id"] for i in tx.fetchall("SELECT delivery_id FROM inbox_item ORDER BY 1")] == \
            ["d-2", "d-3"]
    store.close()
    # d-1: tried on delivery, then on each tier no sooner than its not_before; then a dead letter
    tries = connector.tries["d-1"]
    assert [attempt for _, attempt in tries] == [0, 1, 2, 3]
    gaps = [later - earlier for (earlier, _), (later, _) in zip(tries, tries[1:])]
    print(f"\nretry tiers (delays {DELAYS}s): d-1 tried again after {', '.join(f'{g:.2f}s' for g in gaps)}; "
          f"a fresh delivery went through in {fresh_done - fresh_sent:.2f}s meanwhile")
    assert all(gap >= delay - 0.05 for gap, delay in zip(gaps, DELAYS))
    assert letter.retryable is True and letter.stage == "deliver-1h" and "timed out" in letter.reason
    assert letter.topic == catalogue["delivery.retry.1h"].full_name
    d1_on_tier = catalogue["delivery.retry.1h"].value.decode(letter.value)
    assert d1_on_tier.delivery_id == "d-1" and d1_on_tier.attempt == 3 and d1_on_tier.not_before is not None


async def test_a_full_retry_tier_does_not_stop_the_other_stages(kafka, catalogue, tmp_path):
    """A tier's agent waits on its head record until it is due, and its stream keeps taking records
    meanwhile; a full stream buffer stops faust's delivery of every topic in the process. With the
    stages' buffer at 8 records (runtime.buffer_records) and 40 deliveries waiting 60 s in
    delivery.retry.1m, fresh deliveries still go through at once: a worker that runs a tier keeps a
    buffer of at least TIER_BUFFER (handoff/worker.py `consumer_options`). With a buffer of 8 they did not
    move for 30 s (the first version of this test)."""
    from datetime import timedelta

    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    settings = Settings(environment="test", runtime={"buffer_records": 8})
    deps = Deps.build(settings, catalogue, store, {"inbox": TimingOutInbox(store, {})}, SystemClock())
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}", **consumer_options(settings, tiers=True))
    for runner in runners(deps, FaustSink(app), Metrics(), RetryPolicy(), names=["deliver", "deliver-1m"]):
        attach(app, runner, batch_size=4)
    key = lambda d: r.DeliveryKey(referral_id=d.referral_id, recipient_id=d.recipient_id)  # noqa: E731
    due = SystemClock().now() + timedelta(seconds=60)
    waiting = [delivery(100 + i).model_copy(update={"attempt": 1, "not_before": due}) for i in range(40)]
    await produce(kafka.bootstrap, catalogue["delivery.retry.1m"], [(key(d), d) for d in waiting])
    await app.start()
    try:
        await asyncio.sleep(3)  # the tier's agent holds its head; its stream fills up meanwhile
        sent = time.monotonic()
        fresh = [delivery(n) for n in (1, 2, 3)]
        await produce(kafka.bootstrap, catalogue["delivery"], [(key(d), d) for d in fresh])
        statuses = await consume(kafka.bootstrap, catalogue["referral.status"], 3, timeout=30)
        took = time.monotonic() - sent
    finally:
        await app.stop()
        store.close()
    print(f"\nthree fresh deliveries through in {took:.1f}s while 40 waited 60 s in delivery.retry.1m")
    assert sorted(s.referral_id for s in statuses) == ["ref-1", "ref-2", "ref-3"]
    assert took < 20
