"""The closed loop's clock: every `track.sweep_seconds`, missed deadlines become reports.

Each open deadline past due, on a referral still open, is produced as a `referral.status`
cancelled (source `track`, deterministic event id) with an audit record first; the track
stage applies it and escalates the request. Marked missed only after the broker
acknowledged, so a crash repeats the report (the same event id), never loses it.

Run every period by the `PERIODIC` table in pipeline/app.py (pipeline/topology.run_periodic).
"""
from __future__ import annotations

import asyncio

from pipeline import records as r
from pipeline.clock import Clock
from pipeline.storage import Store
from pipeline.track import mark_missed, missed_deadlines, missed_status
from pipeline.vocab import AuditKind

STAGE = "deadline-sweep"


async def sweep_deadlines(store: Store, writer, clock: Clock) -> int:
    """One pass; returns how many missed deadlines were reported."""
    from pipeline.audit.emit import audit_id, status_audit
    from pipeline.stage import Context, Output

    now = clock.now()
    missed = await asyncio.to_thread(missed_deadlines, store, now)
    if not missed:
        return 0
    ctx = Context(STAGE, r.SourceRef(topic="referral_deadline", record_id="sweep"), clock, trace_id="")
    statuses = [missed_status(m, now) for m in missed]
    audits = [status_audit(s, ctx).model_copy(update={
        "audit_id": audit_id("deadline-missed", s.envelope.event_id), "kind": AuditKind.DECISION,
        "outcome": "escalated"}) for s in statuses]
    outputs = [Output("referral.status", r.ReferralKey(referral_id=s.referral_id), s) for s in statuses]
    await writer.write(audits, outputs, [])
    await asyncio.to_thread(mark_missed, store, missed, now)
    return len(missed)

