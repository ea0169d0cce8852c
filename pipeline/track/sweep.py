"""The closed loop's clock: every `track.sweep_seconds`, missed deadlines become reports.

Each open deadline past due, on a referral still open, is produced as a `referral.status`
cancelled (source `track`, deterministic event id) with an audit record first; the track
stage applies it and escalates the request. Marked missed only after the broker
acknowledged, so a crash repeats the report (the same event id), never loses it.

The same pass refuses provider reports parked longer than `parked_for` (pipeline/track
`stale_parked`): audited first (`status-expired`, refused), then taken away and appended to the
history as refused, so a report on a referral Handoff never sent does not wait for good.

Run every period by the `PERIODIC` table in pipeline/app.py (pipeline/topology.run_periodic).
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from pipeline import records as r
from pipeline.clock import Clock
from pipeline.storage import Store
from pipeline.track import expire_parked, mark_missed, missed_deadlines, missed_status, stale_parked
from pipeline.track.machine import Verdict
from pipeline.vocab import AuditKind

STAGE = "deadline-sweep"


async def sweep_deadlines(store: Store, writer, clock: Clock, parked_for: timedelta = timedelta(hours=72)) -> int:
    """One pass; returns how many missed deadlines and expired parked reports were reported."""
    from pipeline.audit.emit import audit_id, status_audit
    from pipeline.stage import Context, Output

    now = clock.now()
    ctx = Context(STAGE, r.SourceRef(topic="referral_deadline", record_id="sweep"), clock, trace_id="")
    missed = await asyncio.to_thread(missed_deadlines, store, now)
    if missed:
        statuses = [missed_status(m, now) for m in missed]
        audits = [status_audit(s, ctx).model_copy(update={
            "audit_id": audit_id("deadline-missed", s.envelope.event_id), "kind": AuditKind.DECISION,
            "outcome": "escalated"}) for s in statuses]
        outputs = [Output("referral.status", r.ReferralKey(referral_id=s.referral_id), s) for s in statuses]
        await writer.write(audits, outputs, [])
        await asyncio.to_thread(mark_missed, store, missed, now)
    stale = await asyncio.to_thread(stale_parked, store, now - parked_for)
    if stale:
        reason = (f"no send status for this referral after {parked_for.total_seconds() / 3600:g} h parked:"
                  " not a referral Handoff sent, or its send status was lost")
        refused = Verdict(None, None, applied=False, refused=reason)
        audits = [status_audit(s, ctx, refused).model_copy(update={"audit_id": audit_id("status-expired",
                                                                                        s.envelope.event_id)})
                  for s in stale]
        await writer.write(audits, [], [])
        await asyncio.to_thread(expire_parked, store, stale, reason, now)
    return len(missed) + len(stale)
