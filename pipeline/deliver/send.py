"""One send, with its policy (the connectors only speak their protocol):

    outcome = await send(store, connector, delivery, ctx, policy, audit_now)

1. claim the referral's slot in the ledger: nothing is sent when the recipient already holds
   this content (or newer), and a send already in flight elsewhere is `Transient` (later);
2. the attempt audit, written *before* the bytes leave (`audit_now`);
3. the connector; then the ledger settles and the result is audited: delivered (the
   PrivacyDisclosure), or a failure with its class. A `Transient` or `Ambiguous` failure is
   raised again for the stage's retries, until the `final_attempt`-th send of that message,
   which is final: `failed`.
   A `Permanent` one is final at once.

Counted on `metrics` when given: the ingest → acknowledgement latency of a sent delivery, and
each failed send by connector and outcome (retry, ambiguous, failed).

A crash between 3's send and its settling leaves the slot in flight; when the lease ends, the
replayed delivery is sent again with the same message id (PUT on the same ids, the same MSH-10,
the same Message-ID), so the recipient still holds one referral. A crash after the settling, before
the stage wrote its result, replays a delivery the recipient holds: nothing is sent, and its
disclosure record and status are produced again (the same ids: the sink and track keep one).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from pipeline import records as r
from pipeline.audit.emit import delivery_attempt_audit, disclosure_audit
from pipeline.deliver import Ambiguous, Connector, failed_status, ledger, sent_status
from pipeline.errors import Permanent, Transient
from pipeline.storage import Store

if TYPE_CHECKING:
    from pipeline.metrics import Metrics
    from pipeline.stage import Context

AuditNow = Callable[[Sequence[r.AuditEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Policy:
    lease_seconds: float = 60.0
    final_attempt: int = 6  # the send of one message at which a transient failure is final (`failed`)

    @classmethod
    def of(cls, settings) -> "Policy":
        return cls(settings.delivery.lease_seconds, settings.delivery.final_attempt)


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | unchanged | stale | failed
    status: r.ReferralStatus | None = None
    audits: list[r.AuditEvent] = field(default_factory=list)
    detail: str = ""


async def send(store: Store, connector: Connector, delivery: r.Delivery, ctx: "Context", policy: Policy,
               audit_now: AuditNow, metrics: "Metrics | None" = None) -> Outcome:
    now = ctx.clock.now()
    slot = await asyncio.to_thread(ledger.claim, store, delivery, now, policy.lease_seconds)
    if slot.this_message:  # a replay after its send settled: its result may not have been written (a crash)
        return Outcome(slot.outcome, _sent_status(delivery), [disclosure_audit(delivery, ctx, False)])
    if slot.outcome in (ledger.UNCHANGED, ledger.STALE):
        return Outcome(slot.outcome)
    if slot.outcome == ledger.BUSY:
        raise Transient(f"a send of {delivery.referral_id} is in flight elsewhere")
    if slot.outcome == ledger.WAITING:
        raise Transient(f"an update of {delivery.referral_id} waits for the referral's create to settle")
    tried = delivery.model_copy(update={"attempt": slot.attempts})
    attempt = delivery_attempt_audit(tried, ctx, "attempt")
    if slot.resend:
        attempt.detail["resend"] = slot.resend
    await audit_now([attempt])
    try:
        receipt = await connector.deliver(delivery)
    except Permanent as e:
        return await _failed(store, delivery, tried, ctx, f"{type(e).__name__}: {e}", metrics)
    except Transient as e:
        state = "ambiguous" if isinstance(e, Ambiguous) else "retry"
        await asyncio.to_thread(ledger.settle, store, delivery, state, ctx.clock.now(), str(e))
        if slot.attempts >= policy.final_attempt:
            return await _failed(store, delivery, tried, ctx, f"gave up after {slot.attempts} sends: {e}", metrics)
        if metrics is not None:
            metrics.delivery_failures.labels(delivery.endpoint.kind, state).inc()
        await audit_now([delivery_attempt_audit(tried, ctx, state, f"{type(e).__name__}: {e}")
                         .model_copy(update={"audit_id": _result_id(tried)})])
        raise
    acknowledged = ctx.clock.now()
    await asyncio.to_thread(ledger.settle, store, delivery, "sent", acknowledged, slot.resend)
    if metrics is not None:
        metrics.delivery_latency.labels(delivery.endpoint.kind).observe(
            max(0.0, (acknowledged - delivery.envelope.ingested_at).total_seconds()))
    disclosure = disclosure_audit(delivery, ctx, receipt.duplicate)
    if slot.resend:
        disclosure.detail["resend"] = slot.resend
    return Outcome("sent", _sent_status(delivery, receipt.duplicate), [disclosure], slot.resend)


def _sent_status(delivery: r.Delivery, duplicate: bool = False) -> r.ReferralStatus | None:
    return None if delivery.action.value == "cancel" else sent_status(delivery, duplicate)


async def _failed(store: Store, delivery: r.Delivery, tried: r.Delivery, ctx: "Context", reason: str,
                  metrics: "Metrics | None") -> Outcome:
    await asyncio.to_thread(ledger.settle, store, delivery, "failed", ctx.clock.now(), reason)
    if metrics is not None:
        metrics.delivery_failures.labels(delivery.endpoint.kind, "failed").inc()
    audit = delivery_attempt_audit(tried, ctx, "failure", reason).model_copy(update={"audit_id": _result_id(tried)})
    return Outcome("failed", failed_status(delivery, reason), [audit], reason)


def _result_id(tried: r.Delivery) -> str:
    from pipeline.audit.emit import audit_id

    return audit_id("attempt-result", tried.delivery_id, tried.attempt)
