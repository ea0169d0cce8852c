"""The one stage wrapper every agent uses.

For each consumed message: decode the value with the topic's codec, call the stage's
pure function, write the audit records, then the outputs, count, carry the trace, and
turn any failure into a dead letter without stopping the stream.

Processing guarantee: **at-least-once, audit first, deterministic ids.** The audit
records of a message are acknowledged by the broker (acks=all, idempotent producer)
before any of its outputs is produced; the consumer offset is committed only after
both. A crash between the writes replays the message: its audit ids (a hash of stage,
topic, partition, offset and position) and its output event ids (derived from the
input's) repeat, so the audit sink and every consumer drop the repeat. We did not use
Kafka transactions: faust-streaming's exactly-once mode has open duplicate-on-rebalance
bugs (DOMAIN.md §6), and delivery to a provider is outside Kafka anyway, where only
idempotency keys help. So one mechanism, idempotency, serves every edge.

A stage that cannot reach the broker does not dead-letter: producing is retried with
backoff until it succeeds, and the offset stays uncommitted meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol, Sequence, Union

from aiokafka.errors import KafkaError, KafkaTimeoutError

from pipeline import records as r
from pipeline.audit.emit import audit_for_output, dead_letter_audit
from pipeline.avro import CodecError
from pipeline.clock import Clock
from pipeline.ids import digest
from pipeline.metrics import Metrics
from pipeline.topics import Catalogue, Topic
from pipeline.trace import child_traceparent, trace_id_of

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Incoming:
    """One consumed message, as any Kafka client gives it."""

    topic: str  # full name on the broker
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True)
class Output:
    topic: str  # catalogue name
    key: r.Record
    value: r.Record
    audit_kind: r.AuditKind | None = None  # default: the stage's


@dataclass(frozen=True)
class Result:
    """What a stage function returns: outputs to produce, and audit records of its own
    (a decision that produces nothing, a hold, a deny); every output is audited too."""

    outputs: Sequence[Output] = ()
    audits: Sequence[r.AuditEvent] = ()
    held: int = 0


StageFn = Callable[[r.Record, "Context"], Union[Result, Awaitable[Result]]]


@dataclass(frozen=True)
class Context:
    """What a stage function may know about the message besides its value."""

    stage: str
    source: r.SourceRef
    clock: Clock
    trace_id: str
    partition: int = 0
    offset: int = 0


class Sink(Protocol):
    """Produce one record and wait for the broker's acknowledgement (acks=all)."""

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None: ...


@dataclass
class Stage:
    name: str
    source: str  # catalogue name of the consumed topic
    fn: StageFn
    audit_kind: r.AuditKind


class Writer:
    """Writes audit records first, then outputs, each acknowledged by the broker.

    Everything is encoded before anything is written, so an output that does not fit its
    schema fails before any write. Transient broker errors are retried with backoff
    (the consumed offset stays uncommitted meanwhile); permanent ones raise.
    Used by the stage wrapper and by every edge that publishes (ingest, HTTP, MLLP).
    """

    def __init__(self, catalogue: Catalogue, sink: Sink, name: str,
                 backoff: Sequence[float] = (0.1, 0.5, 2.0, 5.0)) -> None:
        self.catalogue = catalogue
        self.sink = sink
        self.name = name
        self.backoff = backoff
        self.audit_topic: Topic = catalogue["audit"]

    def encode(self, topic: Topic, key: r.Record, value: r.Record) -> tuple[str, bytes, bytes]:
        return topic.full_name, topic.key.encode(key), topic.value.encode(value)

    async def write(self, audits: Sequence[r.AuditEvent], outputs: Sequence[Output], headers: Headers) -> None:
        audit_bytes = [self.encode(self.audit_topic, r.AuditKey(subject=_audit_subject(a)), a) for a in audits]
        out_bytes = [self.encode(self.catalogue[o.topic], o.key, o.value) for o in outputs]
        await asyncio.gather(*(self.send(t, k, v, headers) for t, k, v in audit_bytes))
        await asyncio.gather(*(self.send(t, k, v, headers) for t, k, v in out_bytes))

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        backoff = iter(self.backoff)
        while True:
            try:
                await self.sink.send(topic, key, value, headers)
                return
            except KafkaError as e:
                if not (e.retriable or isinstance(e, KafkaTimeoutError)):  # e.g. a record too large
                    raise
                delay = next(backoff, self.backoff[-1])  # transient: the broker is away; try again
                log.warning("%s: produce to %s failed (%s); retrying in %.1fs", self.name, topic,
                            type(e).__name__, delay)
                await asyncio.sleep(delay)


class StageRunner:
    def __init__(self, stage: Stage, catalogue: Catalogue, sink: Sink, clock: Clock, metrics: Metrics) -> None:
        self.stage = stage
        self.catalogue = catalogue
        self.clock = clock
        self.metrics = metrics
        self.writer = Writer(catalogue, sink, f"stage {stage.name}")
        self.source: Topic = catalogue[stage.source]
        self.dead_letters: Topic = catalogue.dead_letter_of(stage.source)

    async def handle(self, msg: Incoming) -> None:
        """Process one message; never raises for bad input (it becomes a dead letter)."""
        started = time.perf_counter()
        name = self.stage.name
        self.metrics.consumed.labels(name).inc()
        traceparent = _header(msg.headers, "traceparent")
        try:
            value = self.source.value.decode(msg.value)
            source = r.SourceRef(topic=self.source.name, record_id=_record_id(value), version=_version(value))
            ctx = Context(name, source, self.clock, trace_id_of(traceparent, value), msg.partition, msg.offset)
            result = self.stage.fn(value, ctx)
            if asyncio.iscoroutine(result):
                result = await result
            await self._write(msg, ctx, result, traceparent)
        except Exception as e:  # bad input or a bug in a stage: dead-letter it, keep the stream going
            await self._dead_letter(msg, e)
            return
        finally:
            self.metrics.seconds.labels(name).observe(time.perf_counter() - started)

    async def _write(self, msg: Incoming, ctx: Context, result: Result, traceparent: str | None) -> None:
        name = self.stage.name
        audits = [audit_for_output(name, o.audit_kind or self.stage.audit_kind, ctx, msg.partition, msg.offset, i,
                                   o.topic, o.value) for i, o in enumerate(result.outputs)]
        audits += result.audits
        headers = [("traceparent", child_traceparent(ctx.trace_id, traceparent).encode())]
        await self.writer.write(audits, result.outputs, headers)
        self.metrics.produced.labels(name).inc(len(result.outputs))
        self.metrics.audited.labels(name).inc(len(audits))
        if result.held:
            self.metrics.held.labels(name).inc(result.held)

    async def _dead_letter(self, msg: Incoming, error: Exception) -> None:
        name = self.stage.name
        reason = f"{type(error).__name__}: {error}" if isinstance(error, CodecError) else _reason(error)
        log.info("stage %s: dead letter %s[%d]@%d: %s", name, msg.topic, msg.partition, msg.offset,
                 type(error).__name__)
        letter = r.DeadLetter(
            dead_letter_id=digest(name, msg.topic, msg.partition, msg.offset, length=32),
            stage=name, reason=reason[:2000], error_type=type(error).__name__,
            retryable=False, topic=msg.topic, partition=msg.partition, offset=msg.offset,
            key=msg.key, value=msg.value, headers={k: v for k, v in msg.headers},
            failed_at=self.clock.now())
        key = r.DeadLetterKey(topic=msg.topic, partition=msg.partition)
        await self.writer.write([dead_letter_audit(name, letter)], [Output(self.dead_letters.name, key, letter)],
                                list(msg.headers))
        self.metrics.dead_lettered.labels(name).inc()


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("ascii", "replace")
    return None


def _record_id(value: r.Record) -> str:
    envelope = getattr(value, "envelope", None)
    if envelope is not None:
        return envelope.source_record_id
    for attr in ("referral_id", "request_id", "delivery_id", "audit_id"):
        if hasattr(value, attr):
            return getattr(value, attr)
    person = getattr(value, "person", None)
    return getattr(person, "person_token", "") or type(value).__name__


def _version(value: r.Record) -> int:
    envelope = getattr(value, "envelope", None)
    return envelope.source_record_version if envelope is not None else getattr(value, "registry_version", 1)


def _audit_subject(audit: r.AuditEvent) -> str:
    if audit.person is not None:
        return audit.person.person_token
    return audit.referral_id or audit.stage


def _reason(error: Exception) -> str:
    """The reason recorded for a stage failure: the type and message, never the payload."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
