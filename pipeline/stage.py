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

Errors (pipeline/errors.py): every failure is classified transient or permanent.
A transient one is retried in place with backoff while the offset stays uncommitted:
without limit while the broker or the database is away (the stage reports itself
waiting: a log line, `handoff_stage_waiting` and `handoff_dependency_ready`), and a
record that keeps failing while its dependency answers is dead-lettered with
retryable=true after `RetryPolicy.attempts` tries. A permanent one (bad input, schema,
policy, a 4xx, an undeclared output, a bug) is dead-lettered at once, retryable=false.

`StageRunner.process` is the per-record core (decode, call, audit, produce);
`StageRunner.handle` adds the retry policy; `StageRunner.handle_batch` runs a batch of them
and writes the batch's audit records (acknowledged), then its outputs: audit first at batch
granularity. The consume loop (pipeline/kafka/faust_app.py) feeds `handle_batch` from faust's
`take_events` (runtime.batch_size, runtime.batch_within_seconds) and commits after it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Awaitable, Callable, Protocol, Sequence, Union

from pipeline import records as r
from pipeline.audit.emit import audit_for_output, dead_letter_audit
from pipeline.clock import Clock
from pipeline.errors import SHARED_DEPENDENCIES, HandoffError, UndeclaredOutput, classify
from pipeline.ids import digest
from pipeline.metrics import Metrics
from pipeline.topics import Catalogue, Topic
from pipeline.logs import bind, log_context
from pipeline.otel import stage_span
from pipeline.trace import child_traceparent, trace_id_of
from pipeline.trace import parse as parse_traceparent

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
# A stage's batch form (optional): the records of a batch at once, e.g. in one transaction; one result each,
# or the error of that record alone (the others' results stand; it is retried or dead-lettered on its own).
BatchFn = Callable[[Sequence[tuple[r.Record, "Context"]]], Awaitable[Sequence[Union[Result, BaseException]]]]
Probe = Callable[[], Awaitable[bool]]  # does a dependency answer right now?


@dataclass(frozen=True)
class RetryPolicy:
    """How a stage retries a transient failure in place (settings: runtime.*)."""

    attempts: int = 6  # tries of one record before it is dead-lettered retryable=true (dependency up)
    backoff: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # seconds; the last repeats
    tier_delays: tuple[float, ...] = (60.0, 600.0, 3600.0)  # not_before of each retry topic, after the failure

    @classmethod
    def of(cls, runtime) -> "RetryPolicy":
        """From the settings' runtime section (pipeline/settings.py RuntimeSettings)."""
        return cls(runtime.retry_attempts, tuple(runtime.retry_backoff_seconds),
                   tuple(runtime.retry_topic_delays_seconds))

    def delay(self, attempt: int) -> float:
        return self.backoff[min(attempt, len(self.backoff)) - 1]


@dataclass(frozen=True)
class Context:
    """What a stage function may know about the message besides its value."""

    stage: str
    source: r.SourceRef
    clock: Clock
    trace_id: str
    partition: int = 0
    offset: int = 0
    last_try: bool = False  # a transient failure of this record is dead-lettered: no retry topic follows


class Sink(Protocol):
    """Produce one record and wait for the broker's acknowledgement (acks=all)."""

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None: ...


class OnError(StrEnum):
    """A stage's error policy (pipeline/errors.py says which errors are transient)."""

    DEAD_LETTER = "retry transient in place, then dead-letter"
    RETRY_TOPICS = "retry transient through its retry topics (delivery.retry.*, dispatch.alert.retry.*), then dead-letter"


@dataclass(frozen=True)
class Stage:
    """One row of the topology (pipeline/app.py): what it consumes, may produce, and does.
    The audit topic and the source's dead-letter topic are every stage's implicit outputs."""

    name: str
    source: str  # catalogue name of the consumed topic
    fn: StageFn
    audit_kind: r.AuditKind
    outputs: tuple[str, ...] = ()  # catalogue names it may produce to; anything else is refused
    on_error: OnError = OnError.DEAD_LETTER
    retry_topics: tuple[str, ...] = ()  # with RETRY_TOPICS: the tiers, in order (each declared as an output)
    doc: str = ""
    batch_fn: BatchFn | None = None  # the batch form of `fn`; a failing batch falls back to `fn` per record
    tier_delays: tuple[float, ...] = ()  # with retry_topics: each tier's delay, when not the policy's (runtime.*)

    @property
    def tier(self) -> int:
        """Which retry tier this stage consumes: 0 for a first try, n for the chain's n-th topic."""
        return self.retry_topics.index(self.source) + 1 if self.source in self.retry_topics else 0

    @property
    def last_tier(self) -> bool:
        """Its records' transient failures are dead-lettered: the chain has no retry topic after it."""
        return bool(self.retry_topics) and self.tier >= len(self.retry_topics)


class Writer:
    """Writes audit records first, then outputs, each acknowledged by the broker.

    Everything is encoded before anything is written, so an output that does not fit its
    schema fails before any write. Transient broker errors are retried with backoff
    (the consumed offset stays uncommitted meanwhile); permanent ones raise.
    Used by the stage wrapper and by every edge that publishes (ingest, HTTP, MLLP).
    """

    def __init__(self, catalogue: Catalogue, sink: Sink, name: str,
                 backoff: Sequence[float] = (0.1, 0.5, 2.0, 5.0), metrics: Metrics | None = None,
                 outputs: Sequence[str] | None = None) -> None:
        self.catalogue = catalogue
        self.sink = sink
        self.name = name
        self.backoff = backoff
        self.metrics = metrics
        self.outputs = None if outputs is None else frozenset(outputs)  # None: any catalogued topic
        self.audit_topic: Topic = catalogue["audit"]
        self.pending: list[Pending] | None = None  # a batch in progress: writes wait for `flush`
        self.tag: object = None  # what the pending writes belong to (the message being handled)

    def encode(self, topic: Topic, key: r.Record, value: r.Record) -> tuple[str, bytes, bytes]:
        return topic.full_name, topic.key.encode(key), topic.value.encode(value)

    async def write(self, audits: Sequence[r.AuditEvent], outputs: Sequence[Output], headers: Headers,
                    then: Callable[[], None] | None = None) -> None:
        """Write (or, in a batch, queue) a message's audit records and outputs; `then` runs once
        they are all acknowledged (a count, say: not when they are only queued)."""
        undeclared = sorted({o.topic for o in outputs} - self.outputs) if self.outputs is not None else []
        if undeclared:  # before any write: the whole message is refused, not half of it
            raise UndeclaredOutput(f"{self.name} may not produce to {', '.join(undeclared)}: not declared "
                                   "in its row of pipeline/app.py")
        audit_bytes = [self.encode(self.audit_topic, r.AuditKey(subject=_audit_subject(a)), a) for a in audits]
        out_bytes = [self.encode(self.catalogue[o.topic], o.key, o.value) for o in outputs]
        if self.pending is not None:
            self.pending.append(Pending(self.tag, audit_bytes, out_bytes, tuple(headers), then))
            return
        await asyncio.gather(*(self.send(t, k, v, headers) for t, k, v in audit_bytes))
        await asyncio.gather(*(self.send(t, k, v, headers) for t, k, v in out_bytes))
        if then is not None:
            then()

    async def flush(self, batch: Sequence["Pending"]) -> list[tuple[object, Exception]]:
        """Write a batch: every audit record of it, acknowledged, then every output, then return.
        Sends are issued in order without awaiting each (the sink's `enqueue`, when it has one:
        no task per record) and their acknowledgements gathered. Returns the (tag, error) of
        entries that failed permanently (e.g. a record too large); their outputs are not written.
        Each entry's `then` runs once its writes are acknowledged."""
        failed: list[tuple[object, Exception]] = []
        for part in ("audits", "outputs"):
            live = [p for p in batch if p.tag not in {t for t, _ in failed}]
            issued = [[(record, await self._issue(*record, p.headers)) for record in getattr(p, part)] for p in live]
            for entry, acks in zip(live, issued):
                results = await asyncio.gather(*(ack for _, ack in acks), return_exceptions=True)
                for ((topic, key, value), _), result in zip(acks, results):
                    if isinstance(result, Exception) and classify(result).transient:
                        try:  # the broker was away: again, with backoff
                            result = await self.send(topic, key, value, entry.headers)
                        except Exception as e:
                            result = e
                    if isinstance(result, Exception):
                        failed.append((entry.tag, result))
                        break
        done = {t for t, _ in failed}
        for entry in batch:
            if entry.then is not None and entry.tag not in done:
                entry.then()
        return failed

    async def _issue(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> Awaitable[None]:
        """Hand one record to the sink; returns its acknowledgement (or the error of handing it over)."""
        enqueue = getattr(self.sink, "enqueue", None)
        if enqueue is None:
            return asyncio.ensure_future(self.send(topic, key, value, headers))
        try:
            return await enqueue(topic, key, value, headers)
        except Exception as e:
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(e)
            return failed

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        backoff, away_since = iter(self.backoff), None
        while True:
            try:
                await self.sink.send(topic, key, value, headers)
                break
            except Exception as e:
                error = classify(e)
                if not error.transient:  # e.g. a record too large
                    raise
                delay = next(backoff, self.backoff[-1])  # the broker is away: try again, without limit
                if away_since is None:
                    away_since = time.monotonic()
                    self._set_ready(False)
                log.warning("%s: not ready: produce to %s failed (%s); retrying in %.1fs", self.name, topic,
                            error.cause_type, delay)
                await asyncio.sleep(delay)
        if away_since is not None:
            self._set_ready(True)
            log.warning("%s: ready: the broker took the record after %.1fs", self.name, time.monotonic() - away_since)

    def _set_ready(self, ready: bool) -> None:
        if self.metrics is not None:
            self.metrics.ready.labels("broker").set(1 if ready else 0)


@dataclass(frozen=True)
class Pending:
    """One message's writes in a batch, encoded: its audit records, its outputs."""

    tag: object
    audits: Sequence[tuple[str, bytes, bytes]]
    outputs: Sequence[tuple[str, bytes, bytes]]
    headers: Headers
    then: Callable[[], None] | None = None  # once acknowledged


class StageRunner:
    def __init__(self, stage: Stage, catalogue: Catalogue, sink: Sink, clock: Clock, metrics: Metrics,
                 policy: RetryPolicy = RetryPolicy(), probes: dict[str, Probe] | None = None) -> None:
        self.stage = stage
        self.catalogue = catalogue
        self.clock = clock
        self.metrics = metrics
        self.policy = policy
        self.probes = probes or {}
        self.source: Topic = catalogue[stage.source]
        self.dead_letters: Topic = catalogue.dead_letter_of(stage.source)
        self.writer = Writer(catalogue, sink, f"stage {stage.name}", metrics=metrics,
                             outputs=(*stage.outputs, self.dead_letters.name))
        self.before_batch: Callable[[], Awaitable[None]] | None = None  # e.g. take up a new config version

    async def handle_batch(self, batch: Sequence[Incoming]) -> None:
        """Process a batch: each message as `handle` does (retries, dead letters per record), but
        the writes of all of them wait; then every audit record of the batch is written and
        acknowledged, then every output. Returns once the batch's offsets may be committed.
        A message whose writes fail permanently becomes a dead letter; the others go through."""
        if self.before_batch is not None:  # between batches: a batch runs under one configuration
            await self.before_batch()
        self.writer.pending = []
        try:
            if not await self._batch_at_once(batch):
                self.writer.pending = []
                for msg in batch:
                    self.writer.tag = msg
                    await self.handle(msg)
        finally:
            pending, self.writer.pending, self.writer.tag = self.writer.pending, None, None
        for msg, error in await self.writer.flush(pending):
            await self._dead_letter(msg, classify(error), retryable=False)

    async def _batch_at_once(self, batch: Sequence[Incoming]) -> bool:
        """The stage's batch form over the whole batch; False (nothing kept) when it has none or
        anything in it fails: then each record goes through `handle`, with its retries and dead letter."""
        if self.stage.batch_fn is None:
            return False
        started = time.perf_counter()
        try:
            values = [self.source.value.decode(msg.value) for msg in batch]
            contexts = [self._context(msg, value) for msg, value in zip(batch, values)]
            results = await self.stage.batch_fn(list(zip(values, contexts)))
            for msg, value, ctx, result in zip(batch, values, contexts, results, strict=True):
                self.writer.tag = msg
                if isinstance(result, BaseException):
                    await self._failed_in_batch(msg, value, result)
                else:
                    await self._write(msg, ctx, result)
        except Exception as e:
            log.info("stage %s: batch of %d failed (%s); one record at a time", self.stage.name, len(batch),
                     classify(e).cause_type)
            return False
        self.metrics.consumed.labels(self.stage.name).inc(len(batch))
        self.metrics.seconds.labels(self.stage.name).observe(time.perf_counter() - started)
        return True

    async def _failed_in_batch(self, msg: Incoming, value: r.Record, exc: BaseException) -> None:
        """A record the batch form returned an error for, handled as `handle` would its first failure:
        a permanent one dead-lettered, a peer's on to the next retry topic, any other retried in place."""
        error = classify(exc)
        if not error.transient:
            await self._dead_letter(msg, error, retryable=False)
        elif self.stage.retry_topics and error.dependency not in SHARED_DEPENDENCIES:
            await self._give_up(msg, value, error)
        else:
            await self.handle(msg)

    async def handle(self, msg: Incoming) -> None:
        """Process one message, retrying transient failures; never raises for a failure of the
        record (it becomes a dead letter). Returns once the offset may be committed. Every log
        line meanwhile carries the stage, the message's place, its trace id and, once decoded,
        its event id (pipeline/logs.py)."""
        parsed = parse_traceparent(_header(msg.headers, "traceparent"))
        with log_context(stage=self.stage.name, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                         trace_id=parsed[0] if parsed else None):
            await self._handle(msg)

    async def _handle(self, msg: Incoming) -> None:
        started = time.perf_counter()
        name = self.stage.name
        self.metrics.consumed.labels(name).inc()
        attempt, waiting_since = 0, None
        try:
            try:
                value = self.source.value.decode(msg.value)
            except Exception as e:  # bytes that are not the topic's record: nothing to retry
                await self._dead_letter(msg, classify(e), retryable=False)
                return
            bind(event_id=_event_id(value), trace_id=trace_id_of(_header(msg.headers, "traceparent"), value))
            await self._until_due(msg, value)
            while True:
                try:
                    await self.process(msg, value)
                    return
                except Exception as e:  # classified: retry, or dead-letter it and keep the stream going
                    error = classify(e)
                    if not error.transient:
                        await self._dead_letter(msg, error, retryable=False)
                        return
                    attempt += 1
                    # a stage with retry topics hands a peer's failure on at once; others retry here first
                    tiered = bool(self.stage.retry_topics) and error.dependency not in SHARED_DEPENDENCIES
                    outage = await self._outage(error) if tiered or attempt >= self.policy.attempts else False
                    if (tiered or attempt >= self.policy.attempts) and not outage:
                        await self._give_up(msg, value, error)  # others get through: it is this record
                        return
                    if outage and waiting_since is None:
                        waiting_since = time.monotonic()
                        self._waiting(error.dependency, True)
                    self.metrics.retries.labels(name).inc()
                    delay = self.policy.delay(attempt)
                    log.warning("stage %s: %s%s[%d]@%d attempt %d failed (%s: %s); retrying in %.1fs", name,
                                f"not ready, waiting for the {error.dependency}: " if outage else "",
                                msg.topic, msg.partition, msg.offset, attempt, error.cause_type,
                                error.dependency or "-", delay)
                    await asyncio.sleep(delay)
        finally:
            if waiting_since is not None:
                self._waiting(error.dependency, False)
                log.warning("stage %s: ready: the %s answered again after %.1fs", name, error.dependency,
                            time.monotonic() - waiting_since)
            self.metrics.seconds.labels(name).observe(time.perf_counter() - started)

    async def process(self, msg: Incoming, value: r.Record | None = None) -> None:
        """The per-record core: decode (unless given), call the stage function, audit first, produce. Raises."""
        if value is None:
            value = self.source.value.decode(msg.value)
        ctx = self._context(msg, value)
        with stage_span(self.stage.name, msg, ctx.trace_id, _event_id(value), _header(msg.headers, "traceparent")):
            result = self.stage.fn(value, ctx)
            if asyncio.iscoroutine(result):
                result = await result
            await self._write(msg, ctx, result)

    def _context(self, msg: Incoming, value: r.Record) -> Context:
        source = r.SourceRef(topic=self.source.name, record_id=_record_id(value), version=_version(value))
        return Context(self.stage.name, source, self.clock, trace_id_of(_header(msg.headers, "traceparent"), value),
                       msg.partition, msg.offset, self.stage.last_tier)

    async def _until_due(self, msg: Incoming, value: r.Record) -> None:
        """A retry topic's record waits for its `not_before`. Records of a tier are in due order
        (the same delay after each failure), so waiting on the head delays nothing due sooner;
        the other tiers and topics have consumers of their own and go on."""
        due = getattr(value, "not_before", None)
        wait = (due - self.clock.now()).total_seconds() if due is not None else 0.0
        if wait > 0:
            log.info("stage %s: %s[%d]@%d is due in %.1fs", self.stage.name, msg.topic, msg.partition, msg.offset,
                     wait)
            await asyncio.sleep(wait)

    async def _give_up(self, msg: Incoming, value: r.Record, error: HandoffError) -> None:
        """A record failing transiently on its own: on to the next retry topic with its `not_before`,
        or, with none left (or none declared), a dead letter with retryable=true."""
        chain, tier = self.stage.retry_topics, self.stage.tier
        if tier >= len(chain):
            await self._dead_letter(msg, error, retryable=True)
            return
        delays = self.stage.tier_delays or self.policy.tier_delays
        delay = delays[min(tier, len(delays) - 1)]
        later = value.model_copy(update={"attempt": getattr(value, "attempt", 0) + 1,
                                         "not_before": self.clock.now() + timedelta(seconds=delay)})
        log.info("stage %s: %s[%d]@%d failed (%s); to %s, due in %.0fs", self.stage.name, msg.topic, msg.partition,
                 msg.offset, error.cause_type, chain[tier], delay)
        ctx = self._context(msg, value)
        key = self.source.key.decode(msg.key)
        await self._write(msg, ctx, Result(outputs=[Output(chain[tier], key, later, r.AuditKind.DELIVERY_ATTEMPT)]))
        self.metrics.retries.labels(self.stage.name).inc()

    async def _outage(self, error: HandoffError) -> bool:
        """Is the error's dependency away for everyone (then wait), not just for this record?"""
        if error.dependency not in SHARED_DEPENDENCIES:
            return False
        probe = self.probes.get(error.dependency)
        if probe is None:  # nothing to ask: a broker or database error is taken as an outage
            return True
        try:
            return not await probe()
        except Exception:  # the probe failing is the answer
            return True

    def _waiting(self, dependency: str, waiting: bool) -> None:
        self.metrics.waiting.labels(self.stage.name).set(1 if waiting else 0)
        if dependency:
            self.metrics.ready.labels(dependency).set(0 if waiting else 1)

    async def _write(self, msg: Incoming, ctx: Context, result: Result) -> None:
        name = self.stage.name
        traceparent = _header(msg.headers, "traceparent")
        audits = [audit_for_output(name, o.audit_kind or self.stage.audit_kind, ctx, msg.partition, msg.offset, i,
                                   o.topic, o.value) for i, o in enumerate(result.outputs)]
        audits += result.audits
        headers = [("traceparent", child_traceparent(ctx.trace_id, traceparent).encode())]

        def counted() -> None:  # at the broker's acknowledgement, not when a batch queues the writes
            self.metrics.produced.labels(name).inc(len(result.outputs))
            self.metrics.audited.labels(name).inc(len(audits))
            if result.held:
                self.metrics.held.labels(name).inc(result.held)
        await self.writer.write(audits, result.outputs, headers, then=counted)

    async def _dead_letter(self, msg: Incoming, error: HandoffError, retryable: bool) -> None:
        name = self.stage.name
        log.info("stage %s: dead letter %s[%d]@%d: %s (retryable=%s)", name, msg.topic, msg.partition, msg.offset,
                 error.cause_type, retryable)
        letter = r.DeadLetter(
            dead_letter_id=digest(name, msg.topic, msg.partition, msg.offset, length=32),
            stage=name, reason=f"{error.cause_type}: {error}"[:2000], error_type=error.cause_type,
            retryable=retryable, topic=msg.topic, partition=msg.partition, offset=msg.offset,
            key=msg.key, value=msg.value, headers={k: v for k, v in msg.headers},
            failed_at=self.clock.now())
        key = r.DeadLetterKey(topic=msg.topic, partition=msg.partition)
        await self.writer.write([dead_letter_audit(name, letter)], [Output(self.dead_letters.name, key, letter)],
                                list(msg.headers), then=self.metrics.dead_lettered.labels(name).inc)


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("ascii", "replace")
    return None


def _event_id(value: r.Record) -> str:
    """What a log line names the record by: its envelope's event id, else its own id."""
    envelope = getattr(value, "envelope", None)
    if envelope is not None:
        return envelope.event_id
    return next((getattr(value, a) for a in ("referral_id", "request_id", "delivery_id", "audit_id", "dead_letter_id")
                 if getattr(value, a, "")), "")


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
