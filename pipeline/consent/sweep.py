"""The gate's clock-driven work, run every `consent.sweep_seconds`:

1. produce every consent set changed since it was last produced (the registry's outbox);
2. cancel holds past their lifetime and referrals sent on a consent that has expired, each
   as a `referral.status` cancelled with its audit record first; confirmed only after the
   broker acknowledged, so a crash repeats them (deterministic ids), never loses them.

Run every period by the `PERIODIC` table in pipeline/app.py (pipeline/topology.run_periodic).
"""
from __future__ import annotations

import asyncio

from pipeline import records as r
from pipeline.clock import Clock
from pipeline.consent.gate import Gate, cancelled_status
from pipeline.consent.registry import publish_pending
from pipeline.vocab import AuditKind

STAGE = "consent-sweep"


async def sweep(gate: Gate, writer, clock: Clock) -> tuple[int, int]:
    """One pass; returns (consent sets produced, cancellations produced)."""
    from pipeline.audit.emit import audit_id, status_audit
    from pipeline.stage import Context, Output

    now = clock.now()
    published = await publish_pending(gate.registry, writer, now)
    cancels = await asyncio.to_thread(gate.expire, now)
    if cancels:
        ctx = Context(STAGE, r.SourceRef(topic="consent_hold", record_id="expiry"), clock, trace_id="")
        statuses = [cancelled_status(c) for c in cancels]
        audits = [status_audit(s, ctx).model_copy(update={
            "audit_id": audit_id("consent-expiry", s.referral_id), "kind": AuditKind.DECISION,
            "outcome": "cancelled", "detail": {"reason": s.reason, "reported_by": s.reported_by}})
            for s in statuses]
        outputs = [Output("referral.status", r.ReferralKey(referral_id=s.referral_id), s) for s in statuses]
        await writer.write(audits, outputs, [])
        await asyncio.to_thread(gate.confirm, cancels)
    return published, len(cancels)

