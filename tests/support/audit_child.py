"""A stage in a child process, for the kill-between-writes test (tests/integration/test_audit_kill.py).

    python -m tests.support.audit_child '{"bootstrap": ..., "prefix": ..., "partitions": 2,
                                          "group": ..., "marker": PATH, "delay": 0.02, "drain": false,
                                          "batch": false}'

Runs the real wrapper (pipeline.stage.StageRunner: audit first, then the output) over a
plain aiokafka consumer with manual assignment and per-message commits (the offset is
committed after both writes, as the faust agent does), so a restart needs no group
rebalance. The sink is the real producer (acks=all, idempotent) with two test-only
additions: an optional random delay before each output write, which widens the window
between the audit acknowledgement and the output, and a marker line after each
acknowledged write (`A p@o` audit, `O p@o` output), so the parent can tell where its
SIGKILL landed. With "drain", it exits 0 once every input is committed. With "batch", each
polled batch goes through `StageRunner.handle_batch` (all audit records acknowledged, then
all outputs) and is committed once.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.metrics import Metrics
from pipeline.stage import Incoming, Output, Result, Stage, StageRunner
from pipeline.topics import Catalogue
from pipeline.vocab import AuditKind, Category
from tests.support.factory import T0

CURRENT = [-1, -1]  # the message being handled: (partition, offset); with "batch", the batch's last
BATCH = [False]


def detect(run: r.EmsRun, ctx) -> Result:
    if not BATCH[0]:
        CURRENT[:] = [ctx.partition, ctx.offset]
    detection = r.Detection(envelope=run.envelope, key=run.key, subject=ctx.source, categories=[Category.OVERDOSE],
                            rules_version="kill-test")
    return Result(outputs=[Output("detection", run.key, detection)])


class MarkingSink:
    def __init__(self, producer: AIOKafkaProducer, audit_topic: str, marker: int, delay: float, seed: int) -> None:
        self.producer, self.audit_topic, self.marker, self.delay = producer, audit_topic, marker, delay
        self.rng = random.Random(seed)

    async def send(self, topic, key, value, headers) -> None:
        is_audit = topic == self.audit_topic
        if not is_audit and self.delay:
            await asyncio.sleep(self.rng.uniform(0, self.delay))
        await self.producer.send_and_wait(topic, value, key=key, headers=list(headers))
        os.write(self.marker, f"{'A' if is_audit else 'O'} {CURRENT[0]}@{CURRENT[1]}\n".encode())


async def main(cfg: dict) -> int:
    catalogue = Catalogue(prefix=cfg["prefix"], partitions=cfg["partitions"])
    BATCH[0] = bool(cfg.get("batch"))
    source = catalogue["ems.run"]
    marker = os.open(cfg["marker"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    producer = AIOKafkaProducer(bootstrap_servers=cfg["bootstrap"], acks="all", enable_idempotence=True, linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"], enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        tps = [TopicPartition(source.full_name, p) for p in range(source.partitions)]
        consumer.assign(tps)
        sink = MarkingSink(producer, catalogue["audit"].full_name, marker, cfg["delay"], os.getpid())
        runner = StageRunner(Stage("detect", "ems.run", detect, AuditKind.DETECTION, outputs=("detection",)),
                             catalogue, sink, FixedClock(T0), Metrics())
        os.write(marker, b"S\n")
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=20)
            for tp, messages in batch.items():
                if cfg.get("batch"):  # the batched wrapper: the batch's audits, then its outputs, then one commit
                    CURRENT[:] = [tp.partition, messages[-1].offset]
                    await runner.handle_batch([Incoming(m.topic, m.partition, m.offset, m.key, m.value,
                                                        tuple(m.headers or ())) for m in messages])
                    await consumer.commit({tp: messages[-1].offset + 1})
                    continue
                for m in messages:
                    await runner.handle(Incoming(m.topic, m.partition, m.offset, m.key, m.value,
                                                 tuple(m.headers or ())))
                    await consumer.commit({tp: m.offset + 1})
            if cfg["drain"] and not batch:
                ends = await consumer.end_offsets(tps)
                if all(position >= ends[tp] for tp, position in zip(tps, [await consumer.position(tp) for tp in tps])):
                    return 0
    finally:
        await consumer.stop()
        await producer.stop()
        os.close(marker)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(json.loads(sys.argv[1]))))
