"""Delivery: send what the outbox holds through the recipient's connector, report the result.

Connectors are registered by endpoint kind (pipeline/deliver/registry.py, STYLE.md §8):
`deliver(delivery) -> Receipt` and `aclose()`, optionally `deliver_many(deliveries) -> [Receipt]` (a
round of a batch in one call: all or none) and `per_endpoint` (sends at once to one endpoint; by
default 1: one at a time, in order); they raise the error tree (pipeline/errors.py):
`Transient` (try again later), `Ambiguous` (sent, no answer: resend the same message id later,
flagged) or `Permanent`. The policy around a send (one in flight per referral, nothing new for
nothing new, audits before and after, failed or requested status) is `send_batch()` in send.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pipeline import records as r
from pipeline.errors import Transient
from pipeline.vocab import ReferralState, StatusSource


@dataclass(frozen=True)
class Receipt:
    delivered: bool
    duplicate: bool  # the recipient already had this very message (it said so, or the store did)
    detail: str = ""


class Ambiguous(Transient):
    """The message went out and no answer came (an MLLP ACK timeout, a connection reset after the
    write): the recipient may or may not hold it. Resent later with the same message id."""


class Connector(Protocol):
    name: str

    async def deliver(self, delivery: r.Delivery) -> Receipt: ...

    async def aclose(self) -> None: ...


def sent_status(delivery: r.Delivery, duplicate: bool, at: datetime) -> r.ReferralStatus:
    """The status event a successful send produces: the referral is `requested` since `at`, when
    the recipient acknowledged it (not the EMS run's time: the closed loop's deadlines count
    from here, so a report sent a day after the call still gives the provider its full time)."""
    envelope = delivery.envelope.model_copy(update={
        "event_id": f"status:{delivery.delivery_id}:sent", "source_system": "handoff:deliver", "occurred_at": at})
    return r.ReferralStatus(envelope=envelope, referral_id=delivery.referral_id, state=ReferralState.REQUESTED,
                            business_status="2.0", reported_by=f"connector:{delivery.endpoint.kind}",
                            message_id=delivery.message_id, reason="resent: already there" if duplicate else "",
                            source=StatusSource.DELIVERY, recipient_id=delivery.recipient_id, person=delivery.person,
                            request_id=delivery.decision.request_id)


def failed_status(delivery: r.Delivery, reason: str, at: datetime) -> r.ReferralStatus:
    """A final failure at `at`: the referral did not reach its recipient (`failed`, with the reason)."""
    envelope = delivery.envelope.model_copy(update={
        "event_id": f"status:{delivery.delivery_id}:failed", "source_system": "handoff:deliver", "occurred_at": at})
    return r.ReferralStatus(envelope=envelope, referral_id=delivery.referral_id, state=ReferralState.FAILED,
                            reported_by=f"connector:{delivery.endpoint.kind}", message_id=delivery.message_id,
                            reason=reason[:500], source=StatusSource.DELIVERY, recipient_id=delivery.recipient_id,
                            person=delivery.person, request_id=delivery.decision.request_id)
