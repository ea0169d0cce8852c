"""A batch's counts follow the broker's acknowledgements, not the queueing of its writes.

The sink here holds every acknowledgement until the test releases it: a real broker cannot be
told to hold one, and the property is about the moment between queueing and acknowledgement.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from pipeline.clock import FixedClock
from pipeline.detect import classify_run, load_rules
from pipeline.metrics import Metrics
from pipeline.stage import Incoming, Output, Result, Stage, StageRunner
from pipeline.topics import Catalogue
from pipeline.vocab import AuditKind


class HeldAcks:
    """Takes records in order; each acknowledgement waits for `release`."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.topics: list[str] = []

    async def send(self, topic, key, value, headers) -> None:
        await (await self.enqueue(topic, key, value, headers))

    async def enqueue(self, topic, key, value, headers):
        self.topics.append(topic)

        async def ack() -> None:
            await self.released.wait()
        return asyncio.ensure_future(ack())


async def test_produced_and_audited_count_at_acknowledgement_and_the_batch_waits_for_it():
    from handoff.demo import sample_runs

    cat = Catalogue(prefix="t", partitions=1)
    runs = sample_runs(3)
    rules = load_rules()
    stage = Stage("forward", "ems.run", lambda run, ctx: Result(outputs=[
        Output("detection", run.key, classify_run(run, rules))]), AuditKind.DETECTION, ("detection",))
    metrics, sink = Metrics(), HeldAcks()
    runner = StageRunner(stage, cat, sink, FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc)), metrics)
    source = cat["ems.run"]
    batch = [Incoming(source.full_name, 0, i, None, source.value.encode(run)) for i, run in enumerate(runs)]
    handling = asyncio.create_task(runner.handle_batch(batch))
    while len(sink.topics) < 3:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert sink.topics == [cat["audit"].full_name] * 3  # the outputs wait for the audit acknowledgements
    assert metrics.value(metrics.consumed, "forward") == 3
    assert metrics.value(metrics.produced, "forward") == 0 and metrics.value(metrics.audited, "forward") == 0
    assert not handling.done()
    sink.released.set()
    await asyncio.wait_for(handling, 5)
    assert sink.topics == [cat["audit"].full_name] * 3 + [cat["detection"].full_name] * 3
    assert metrics.value(metrics.produced, "forward") == 3 and metrics.value(metrics.audited, "forward") == 3
