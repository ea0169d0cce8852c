"""One way for an edge to turn parse results into committed records and an honest answer.

`Edge.commit` publishes through connectors/ingest.py `publish` (audit first, acks=all,
idempotent producer; refusals as dead letters with the original bytes) and returns only
when the broker has acknowledged every write, or raises `Unavailable` when it has not
within `commit_timeout`. An edge answers "accepted" (HTTP 2xx, MLLP AA) only after
`commit` returned, so an acceptance always names a committed record.

A timeout does not un-send what the producer already handed to the broker: a record may
still land after the sender was told 503/AR. That is the at-least-once side, made safe by
deterministic event ids (connectors/common.py): the sender's resend repeats them and
downstream drops the repeat. What can never happen is the reverse, an acceptance without
a commit.
"""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Histogram

from connectors.common import ParseContext, ParseResult, Parsed, Refused
from connectors.edge.auth import Agency, Credentials
from connectors.ingest import publish
from pipeline import records as r
from pipeline.clock import Clock
from pipeline.stage import Writer


class Unavailable(Exception):
    """The broker did not acknowledge in time (or refused the write): nothing may be accepted."""


class EdgeMetrics:
    """Counters of one edge process, in a registry passed in (no module singletons)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.requests = Counter("handoff_edge_requests", "Requests (HTTP) or messages (MLLP) answered",
                                ["edge", "outcome"], registry=reg)
        self.unauthenticated = Counter("handoff_edge_unauthenticated", "Inputs refused for want of a valid credential",
                                       ["edge", "reason"], registry=reg)
        self.records = Counter("handoff_edge_records", "Records committed", ["edge", "topic"], registry=reg)
        self.refused = Counter("handoff_edge_refused", "Inputs or records refused and dead-lettered", ["edge"],
                               registry=reg)
        self.unavailable = Counter("handoff_edge_unavailable", "Answers 503/AR because the broker did not commit",
                                   ["edge"], registry=reg)
        self.seconds = Histogram("handoff_edge_seconds", "Time from receipt to answer", ["edge"], registry=reg,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10))

    def value(self, counter: Counter, *labels: str) -> float:
        return counter.labels(*labels)._value.get()


@dataclass(frozen=True)
class Batch:
    """Parse results bound for one topic (a document may feed two: CAD incidents and referrals)."""

    topic: str
    results: Sequence[ParseResult]


@dataclass
class Committed:
    accepted: list[tuple[str, r.Record]] = field(default_factory=list)  # (topic, record)
    refused: list[Refused] = field(default_factory=list)


@dataclass
class Edge:
    """What both edges share: the writer, who may send, the clock, metrics and parse settings."""

    writer: Writer
    credentials: Credentials
    clock: Clock
    metrics: EdgeMetrics
    programme_id: str
    dispatch_centre_for: Callable[[str], str]
    commit_timeout: float = 10.0
    xsd_path: Path | None = None
    agency_role: Callable[[str], str] = lambda agency_id: ""

    def context(self, agency: Agency) -> ParseContext:
        return ParseContext(received_at=self.clock.now(), sender=agency.id, programme_id=self.programme_id,
                            dispatch_centre_for=self.dispatch_centre_for, xsd_path=self.xsd_path,
                            agency_role=self.agency_role)

    async def commit(self, edge: str, batches: Sequence[Batch], raw: bytes, origin: str, agency: Agency,
                     ctx: ParseContext) -> Committed:
        """Publish every batch; return once all is acknowledged, else raise `Unavailable`."""
        done = Committed()
        actor = f"edge:{edge}:{agency.id}"

        async def go() -> None:
            for batch in batches:
                results = [_own(x, agency) for x in batch.results]
                _, refused = await publish(self.writer, results, raw, batch.topic, origin, actor, ctx.received_at)
                done.accepted += [(batch.topic, x.record) for x in results if isinstance(x, Parsed)]
                done.refused += refused

        try:
            await asyncio.wait_for(go(), self.commit_timeout)
        except (asyncio.TimeoutError, KafkaError) as error:
            self.metrics.unavailable.labels(edge).inc()
            raise Unavailable(type(error).__name__) from None
        for topic, _ in done.accepted:
            self.metrics.records.labels(edge, topic).inc()
        if done.refused:
            self.metrics.refused.labels(edge).inc(len(done.refused))
        return done


def _own(result: ParseResult, agency: Agency) -> ParseResult:
    """A PCR for an agency the signed-in sender does not submit for is refused, not published."""
    record = result.record if isinstance(result, Parsed) else None
    if isinstance(record, r.EmsRun) and not agency.submits_for(record.agency_id):
        return Refused(record.pcr_number, f"the PCR's agency {record.agency_id!r} is not one this sender submits for")
    return result


def receipt_id(agency: Agency, raw: bytes) -> str:
    """Names one submission: the same bytes from the same agency get the same receipt."""
    return hashlib.sha256(agency.id.encode() + b"\x1f" + raw).hexdigest()[:24]
