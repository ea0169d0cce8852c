"""Delivery: send what the outbox holds through the recipient's connector, report the result.

Connectors are registered by endpoint kind (pipeline/deliver/registry.py, STYLE.md §8):
`deliver(delivery) -> Receipt` and `aclose()`. The delivery issue adds FHIR REST, MLLP,
Direct and webhooks, retry topics, and the consent re-check just before sending.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pipeline import records as r
from pipeline.vocab import ReferralState, StatusSource


@dataclass(frozen=True)
class Receipt:
    """What a connector reports of one send: delivered, and whether the recipient already had it."""

    delivered: bool
    duplicate: bool
    detail: str = ""


class Connector(Protocol):
    name: str

    async def deliver(self, delivery: r.Delivery) -> Receipt: ...

    async def aclose(self) -> None: ...


def sent_status(delivery: r.Delivery, duplicate: bool) -> r.ReferralStatus:
    """The status event a successful send produces: the referral is now `requested`."""
    envelope = delivery.envelope.model_copy(update={
        "event_id": f"status:{delivery.delivery_id}:sent", "source_system": "handoff:deliver"})
    return r.ReferralStatus(envelope=envelope, referral_id=delivery.referral_id, state=ReferralState.REQUESTED,
                            business_status="2.0", reported_by=f"connector:{delivery.endpoint.kind}",
                            message_id=delivery.message_id, reason="resent: already there" if duplicate else "",
                            source=StatusSource.DELIVERY, recipient_id=delivery.recipient_id, person=delivery.person,
                            request_id=delivery.decision.request_id)
