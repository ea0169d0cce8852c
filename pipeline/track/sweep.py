"""The closed loop's clock: every `track.sweep_seconds`, missed deadlines become reports.

Each open deadline past due, on a referral still open, is produced as a `referral.status`
cancelled (source `track`, deterministic event id) with an audit record first; the track
stage applies it and escalates the request. Marked missed only after the broker
acknowledged, so a crash repeats the report (the same event id), never loses it.

    task = asyncio.create_task(run_deadline_sweeper(store, writer, clock, every=60.0))
"""
from __future__ import annotations

import asyncio
import logging

from pipeline import records as r
from pipeline.clock import Clock
from pipeline.storage import Store, StorageError
from pipeline.track import mark_missed, missed_deadlines, missed_status
from pipeline.vocab import AuditKind

log = logging.getLogger(__name__)
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


async def run_deadline_sweeper(store: Store, writer, clock: Clock, every: float = 60.0) -> None:
    """Sweep until cancelled; a database outage skips a pass (the next one catches up)."""
    while True:
        try:
            await sweep_deadlines(store, writer, clock)
        except StorageError as e:
            log.warning("%s: database unavailable (%s); next pass in %.0fs", STAGE, type(e).__name__, every)
        await asyncio.sleep(every)
