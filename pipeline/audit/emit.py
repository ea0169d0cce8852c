"""Audit records, built from what a stage produced; ids deterministic, so replays dedupe.

Records hold tokens and ids, never names or payloads.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pipeline import records as r
from pipeline.vocab import AuditKind

if TYPE_CHECKING:
    from pipeline.stage import Context


def audit_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def audit_for_output(stage: str, kind: AuditKind, ctx: "Context", partition: int, offset: int, index: int,
                     topic: str, value: r.Record) -> r.AuditEvent:
    """The audit record of one output of one consumed message."""
    fields = _subject_fields(value)
    envelope = getattr(value, "envelope", None)
    entities = [ctx.source]
    if envelope is not None:
        entities.append(r.SourceRef(topic=topic, record_id=envelope.event_id, version=envelope.source_record_version))
    return r.AuditEvent(
        audit_id=audit_id(stage, ctx.source.topic, partition, offset, index),
        kind=kind, stage=stage, recorded_at=ctx.clock.now(), actor=f"stage:{stage}",
        correlation_id=envelope.correlation_id if envelope is not None else "",
        trace_id=ctx.trace_id, entities=entities, detail={"output_topic": topic}, **fields)


def dead_letter_audit(stage: str, letter: r.DeadLetter) -> r.AuditEvent:
    return r.AuditEvent(
        audit_id=audit_id("dead-letter", letter.dead_letter_id), kind=AuditKind.DEAD_LETTER, stage=stage,
        recorded_at=letter.failed_at, outcome="failure", actor=f"stage:{stage}",
        entities=[r.SourceRef(topic=letter.topic, record_id=f"{letter.partition}@{letter.offset}")],
        detail={"reason": letter.reason[:500], "error_type": letter.error_type})


def _subject_fields(value: r.Record) -> dict:
    """Person, referral, recipient and legal basis of a record, where it has them."""
    fields: dict = {}
    person = getattr(value, "person", None)
    if isinstance(person, r.PersonKey):
        fields["person"] = person
    decision = value if isinstance(value, r.Decision) else getattr(value, "decision", None)
    if isinstance(decision, r.Decision):
        fields.update(referral_id=decision.referral_id, recipient_id=decision.recipient_id,
                      purpose=decision.purpose, basis=decision.basis, variant=decision.variant,
                      consent_id=decision.consent_id, outcome=decision.outcome.value)
    for attr in ("referral_id", "recipient_id"):
        if hasattr(value, attr):
            fields[attr] = getattr(value, attr)
    return fields
