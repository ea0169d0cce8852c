"""faust-streaming wiring: an app whose producer is always idempotent with acks=all,
and the adapter that runs a `StageRunner` as a faust agent.

faust-streaming turns on `enable_idempotence` only inside exactly-once transactions
(`Producer._settings_extra`); Handoff runs at-least-once with idempotency keys (see
pipeline/stage.py), so `SafeProducer` sets both for every producer the app creates.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline.stage import Headers, Incoming, StageRunner

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # a dead letter wraps a whole input record
# faust pauses a partition once its agent's buffer holds 1/1.25 of STREAM_BUFFER; a fetch returns at
# most MAX_POLL_RECORDS, under the fifth left, so a full buffer never blocks the delivery loop.
STREAM_BUFFER, MAX_POLL_RECORDS = 4096, 500


class SafeProducer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class SafeTransport(faust_aiokafka.Transport):
    Producer = SafeProducer


class HandoffApp(faust.App):
    def _new_producer_transport(self):
        return SafeTransport(self.conf.broker_producer, self)

    def _new_transport(self):
        return SafeTransport(self.conf.broker_consumer, self)


def make_app(bootstrap: str, group: str, **overrides: Any) -> HandoffApp:
    options: dict[str, Any] = dict(
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_allow_declare=False,  # topics come from the catalogue (pipeline/topics.py)
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=MAX_REQUEST_BYTES,
        producer_linger=0.0,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        stream_buffer_maxsize=STREAM_BUFFER,
        broker_max_poll_records=MAX_POLL_RECORDS,
    )
    options.update(overrides)
    return HandoffApp(group, **options)


class FaustSink:
    """`Sink` over the app's producer: send and wait for the broker's acknowledgement."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        await self.app.producer.send_and_wait(topic, key, value, None, None, list(headers))

    async def enqueue(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> Awaitable[Any]:
        """Hand the record to the producer (in call order); the result is its acknowledgement."""
        return await self.app.producer.send(topic, key, value, None, None, list(headers))


def attach(app: faust.App, runner: StageRunner, concurrency: int = 1, batch_size: int = 500,
           within: float = 0.05, admit: Callable[[], Awaitable[None]] | None = None) -> Any:
    """Run `runner` as the agent of its source topic, a batch at a time (`take_events`: at most
    `batch_size` messages, or what came within `within` seconds). faust acknowledges a batch's
    events, so their offsets become committable, only after `handle_batch` returns: after the
    batch's audit records and outputs are acknowledged. `admit`, if given, is awaited before
    each batch (an ingest stage's `Backpressure.admit`). Concurrency stays 1: with more,
    faust's at-least-once commits can skip an in-flight message (DOMAIN.md §6)."""
    topic = app.topic(runner.source.full_name, key_serializer="raw", value_serializer="raw",
                      partitions=runner.source.partitions)

    async def agent(stream):
        async for events in stream.take_events(batch_size, within=within):
            if admit is not None:
                await admit()
            await runner.handle_batch([Incoming(e.message.topic, e.message.partition, e.message.offset,
                                                e.message.key, e.message.value, tuple(_headers(e.message.headers)))
                                       for e in events])

    return app.agent(topic, name=f"handoff.{runner.stage.name}", concurrency=concurrency)(agent)


def _headers(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in items]


class Backpressure:
    """Ingest waits for the stages after it.

    One faust consumer and one event loop feed every stage of a worker. While `ems.run` has a
    backlog, classify-run takes a full batch at every turn of the loop and produces into the
    later stages far faster than they drain: each of them waits a turn per await, and a turn
    lasts as long as the longest synchronous stretch of any stage. Measured (3,000 runs
    preloaded, one worker): route-decide-render handled 12 requests in the 21 s classify-run
    took for the 3,000 runs. So an ingest stage's agent waits before each batch while more than
    `limit` records wait (end offset − committed offset) on the worker's assigned partitions of
    the later stages' topics, until fewer than half of that wait. faust stops fetching the
    ingest topic once its stream buffer is under pressure; with `broker_max_poll_records` well
    below a fifth of `stream_buffer_maxsize` (make_app), one fetch more always fits, so the one
    delivery loop of every topic never blocks on the full buffer (transport/conductor.py)."""

    def __init__(self, app: faust.App, downstream: set[str], limit: int, every: float = 0.05) -> None:
        self.app, self.downstream, self.limit, self.every = app, downstream, limit, every
        self.waits = 0  # batches that waited (a bench row and a test read it)

    def backlog(self) -> int:
        consumer = self.app.consumer
        waiting = 0
        for tp in consumer.assignment():
            if tp.topic in self.downstream:
                end = consumer.highwater(tp)
                if end is not None:
                    waiting += max(0, end - (consumer._committed_offset.get(tp) or 0))  # next to read
        return waiting

    async def admit(self) -> None:
        """Return when the later stages have room (at once, mostly)."""
        if self.backlog() <= self.limit:
            return
        self.waits += 1
        while self.backlog() > self.limit // 2:
            await asyncio.sleep(self.every)
