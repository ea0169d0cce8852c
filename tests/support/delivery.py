"""Deliveries for the delivery tests: the render cases' referral, rendered for one endpoint."""
from __future__ import annotations

from dataclasses import replace

from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.render import default_redaction, render
from pipeline.stage import Context
from pipeline.vocab import Action
from tests.unit.render import cases as c


def delivery(kind: str, address: str, revision: int = 1, action: Action = Action.CREATE, pid: str = "org-bridge-clinic",
             request: r.Referral | None = None) -> r.Delivery:
    request = request or c.ems_request(revision)
    recipient = replace(c.provider(kind, pid), endpoint=r.Endpoint(kind=kind, address=address))
    decision = c.decision(request, recipient)
    payload = render(request, [c.ems_run(), c.incident()], decision, recipient, action=action,
                     redaction=default_redaction())
    return r.Delivery(envelope=c.envelope("req-ems"), delivery_id=f"{decision.referral_id}:{payload.message_id}",
                      referral_id=decision.referral_id, recipient_id=recipient.id, endpoint=recipient.endpoint,
                      format=payload.format, action=action, revision=request.revision, message_id=payload.message_id,
                      content_type=payload.content_type, payload=payload.body, decision=decision, person=request.person,
                      content_digest=payload.digest)


def context(clock: FixedClock | None = None, offset: int = 0) -> Context:
    return Context("deliver", r.SourceRef(topic="delivery", record_id="req-ems"), clock or FixedClock(c.T0), "trace",
                   0, offset)


class Audits:
    """An audit writer that keeps what it was given, in order (the stage's `audit_now`)."""

    def __init__(self) -> None:
        self.written: list[r.AuditEvent] = []

    async def __call__(self, audits) -> None:
        self.written.extend(audits)
