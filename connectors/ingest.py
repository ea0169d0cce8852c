"""Files into Kafka: `handoff ingest nemsis|eido|cad|hl7 PATH...`.

Each file is parsed by its pure parser; every record is published with an `ingest`
audit record first (the one Writer of pipeline/stage.py: acks=all, idempotent), and
every refusal becomes a dead letter on the target topic's `.dlq` with the original bytes
and the reason. Event ids come from the source (connectors/common.py), so a file sent
twice repeats them and is dropped downstream. A journal of finished files lets a batch
resume after a crash: a file is marked done only after all its records are acknowledged;
a file cut short is sent again whole (same ids).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from connectors import parsers
from connectors.common import ParseContext, Parsed, Refused
from pipeline import records as r
from pipeline.audit.emit import audit_id
from pipeline.stage import Output, Writer
from pipeline.trace import new_traceparent
from pipeline.vocab import AuditKind


@dataclass
class IngestSummary:
    files: int = 0
    skipped_files: int = 0
    records: int = 0
    refused: int = 0
    reasons: list[str] = field(default_factory=list)


def key_of(record: r.Record) -> r.Record:
    if isinstance(record, r.FieldReferral):  # field.referral is keyed by agency + referral id
        return r.FieldReferralKey(agency_id=record.agency_id, referral_id=record.referral_id)
    if isinstance(record, r.ReferralStatus):  # a provider's answer (the replies listener)
        return r.ReferralKey(referral_id=record.referral_id)
    return record.key


def ingest_audit(record: r.Record, topic: str, actor: str, at: datetime) -> r.AuditEvent:
    envelope = record.envelope
    return r.AuditEvent(
        audit_id=audit_id("ingest", envelope.event_id), kind=AuditKind.INGEST, stage="ingest", recorded_at=at,
        actor=actor, correlation_id=envelope.correlation_id,
        entities=[r.SourceRef(topic=topic, record_id=envelope.source_record_id,
                              version=envelope.source_record_version)],
        detail={"event_id": envelope.event_id, "source_system": envelope.source_system, "sender": envelope.sender})


async def publish(writer: Writer, results: list, raw: bytes, topic: str, origin: str, actor: str,
                  at: datetime) -> tuple[int, list[Refused]]:
    """Publish one document's parse results: records (audit first) and refusals as dead letters."""
    headers = [("traceparent", new_traceparent().encode())]
    records = [x.record for x in results if isinstance(x, Parsed)]
    refused = [x for x in results if isinstance(x, Refused)]
    await writer.write([ingest_audit(rec, topic, actor, at) for rec in records],
                       [Output(topic, key_of(rec), rec, AuditKind.INGEST) for rec in records], headers)
    dead_letter = writer.catalogue.dead_letter_of(topic)
    for i, refusal in enumerate(refused):
        letter = r.DeadLetter(
            dead_letter_id=audit_id("ingest-refused", origin, hashlib.sha256(raw).hexdigest(), i),
            stage="ingest", reason=refusal.reason[:2000], error_type="Refused", topic=origin, partition=0,
            offset=i, value=raw, headers={"record_id": (refusal.record_id or "").encode()}, failed_at=at)
        audit = r.AuditEvent(
            audit_id=audit_id("dead-letter", letter.dead_letter_id), kind=AuditKind.DEAD_LETTER, stage="ingest",
            recorded_at=at, outcome="failure", actor=actor, entities=[r.SourceRef(topic=origin, record_id=str(i))],
            detail={"reason": refusal.reason[:500]})
        await writer.write([audit], [Output(dead_letter.name, r.DeadLetterKey(topic=origin, partition=0), letter)],
                           headers)
    return len(records), refused


class Journal:
    """Which files of a batch are done: a file per batch under the run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done = set(path.read_text().split()) if path.exists() else set()

    @staticmethod
    def entry(file: Path, data: bytes) -> str:
        return f"{hashlib.sha256(data).hexdigest()}:{file.name}".replace(" ", "_")

    def mark(self, entry: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(entry + "\n")
        self.done.add(entry)


async def ingest_files(writer: Writer, kind: str, paths: list[Path], ctx: ParseContext, journal: Journal,
                       progress: Callable[[int, int], None] = lambda done, total: None) -> IngestSummary:
    parser = parsers.kind(kind)
    summary = IngestSummary()
    for n, path in enumerate(paths, 1):
        data = path.read_bytes()
        entry = Journal.entry(path, data)
        if entry in journal.done:
            summary.skipped_files += 1
        else:
            sent, refused = await publish(writer, parser.parse(data, ctx), data, parser.topic, f"file:{path.name}",
                                          f"ingest:{ctx.sender or 'cli'}", ctx.received_at)
            journal.mark(entry)
            summary.files += 1
            summary.records += sent
            summary.refused += len(refused)
            summary.reasons += [f"{path.name}: {x.reason}" for x in refused]
        progress(n, len(paths))
    return summary
