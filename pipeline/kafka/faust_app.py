"""faust-streaming wiring: an app whose producer is always idempotent with acks=all,
and the adapter that runs a `StageRunner` as a faust agent.

faust-streaming turns on `enable_idempotence` only inside exactly-once transactions
(`Producer._settings_extra`); Handoff runs at-least-once with idempotency keys (see
pipeline/stage.py), so `SafeProducer` sets both for every producer the app creates.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline.stage import Headers, Incoming, StageRunner

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # a dead letter wraps a whole input record
# A stage writes a batch's records at once (pipeline/stage.py Writer.flush): up to thousands of audit
# records per partition. aiokafka's default (16 KiB) made a producer batch of ~30 of them, and the
# writer waited for each full one to drain before adding the next.
MAX_BATCH_BYTES = 1024 * 1024


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
        store="memory://",  # no local tables; faust still makes its data folder: in the temp folder, not the cwd
        datadir=str(Path(tempfile.gettempdir()) / "handoff-{conf.name}-data"),
        web_enabled=False,
        topic_allow_declare=False,  # topics come from the catalogue (pipeline/topics.py)
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=MAX_REQUEST_BYTES,
        producer_max_batch_size=MAX_BATCH_BYTES,
        producer_linger=0.0,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
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
           within: float = 0.05, on_crash: Callable[[str, BaseException], None] | None = None) -> Any:
    """Run `runner` as the agent of its source topic, a batch at a time (`take_events`: at most
    `batch_size` messages, or what came within `within` seconds). faust acknowledges a batch's
    events, so their offsets become committable, only after `handle_batch` returns: after the
    batch's audit records and outputs are acknowledged; a batch a stop cancels is not committed
    (`_finish`). Concurrency stays 1: with more,
    faust's at-least-once commits can skip an in-flight message (DOMAIN.md §6).

    `handle_batch` raises only for a bug or a broker that refuses even the dead letters: faust would
    restart the agent and go on with later batches while the failed batch, never acknowledged, held
    back its partitions' commits. `on_crash(stage, error)` is told instead and the agent ends (the
    worker stops on it, so its restart replays the batch at once; faust is not given the error, whose
    message it would log with its traceback).

    The stream acknowledges nothing by itself (`enable_acks` off): `take_events` turns it off while it
    runs and restores it as it closes, after which the stream's background drainer acknowledged every
    record that reached it until the worker stopped, unhandled. On a partition with no committed
    offset yet faust then committed past the unfinished batch (its gap check needs one), and the
    batch was lost (round 7's CI: 9 of 20 runs; tests/integration/test_stop_mid_batch.py)."""
    topic = app.topic(runner.source.full_name, key_serializer="raw", value_serializer="raw",
                      partitions=runner.source.partitions)

    async def agent(stream):
        stream.enable_acks = False  # only `take_events` acknowledges, what it yielded (above)
        async for events in stream.take_events(batch_size, within=within):
            batch = [Incoming(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value,
                              tuple(_headers(e.message.headers))) for e in events]
            try:
                await _finish(runner.handle_batch(batch), events)
            except Exception as error:
                if on_crash is None:
                    raise
                on_crash(runner.stage.name, error)  # the worker stops on it
                return  # not raised on: faust would log the error's message, which may quote a record

    return app.agent(topic, name=f"handoff.{runner.stage.name}", concurrency=concurrency)(agent)


async def _finish(handling: Awaitable[None], events: list) -> None:
    """Run a batch so that its events become committable only if it ends. faust acknowledges a
    batch's events as `take_events` resumes or closes, and a stop closes it at once: a batch
    cancelled mid-way (a send made, its result not yet written) was committed and never replayed.
    So each message holds one more reference while its batch runs, released only when the batch
    has returned: faust's own acknowledgement is then the last one (safe to commit), and after a
    stop or a crash it is not (the next worker replays the batch, as after a SIGKILL)."""
    for event in events:
        event.message.incref()
    await handling
    for event in events:
        event.message.decref()


def _headers(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in items]
