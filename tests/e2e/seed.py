"""What the pipeline would have left in the database before a provider signs in: referrals delivered to
the inbox of two organisations (rendered by the real renderer from fixed synthetic records), their
`requested` state as track records it, and the disclosure audit records the sink stores."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from connectors.inbox import InboxConnector
from pipeline import records as r
from pipeline.audit.emit import disclosure_audit
from pipeline.audit.sink import audit_codec, store_audit
from pipeline.clock import FixedClock
from pipeline.deliver import sent_status
from pipeline.render import default_redaction, render
from pipeline.stage import Context
from pipeline.track import apply_status
from pipeline.vocab import Basis, Service

from tests.unit.render import cases as c


@dataclass(frozen=True)
class Seeded:
    own: str       # org-a's referral (Part 2, on a consent)
    other: str     # org-b's referral
    person: str    # the person token both are about


def _delivery(request: r.ReferralRequest, org: str, part2: bool) -> r.Delivery:
    provider = c.provider("inbox", org)
    decision = c.decision(request, provider, basis=Basis.PART2_CONSENT if part2 else Basis.HIPAA_TREATMENT,
                          part2=part2)
    payload = render(request, [c.ems_run(), c.incident()], decision, provider, redaction=default_redaction())
    envelope = request.envelope.model_copy(update={"event_id": f"delivery:{decision.referral_id}"})
    return r.Delivery(envelope=envelope, delivery_id=f"{decision.referral_id}:{payload.message_id}",
                      referral_id=decision.referral_id, recipient_id=org, endpoint=provider.endpoint,
                      format=payload.format, message_id=payload.message_id, content_type=payload.content_type,
                      payload=payload.body, decision=decision, person=request.person)


def seed(store) -> Seeded:
    inbox = InboxConnector(store)
    made = []
    for n, (org, service, part2) in enumerate((("org-a", Service.SUD_TREATMENT, True),
                                               ("org-b", Service.PEER_RECOVERY, False))):
        delivery = _delivery(c.ems_request(service=service), org, part2)
        asyncio.run(inbox.deliver(delivery))
        apply_status(store, sent_status(delivery, duplicate=False, at=c.T0), None, c.T0)  # as track does
        ctx = Context("deliver", r.SourceRef(topic="delivery", record_id=delivery.delivery_id),
                      FixedClock(c.T0 + timedelta(minutes=2 + n)), "t", 0, n)
        audit = disclosure_audit(delivery, ctx)
        store_audit(store, audit, audit_codec().encode(audit), 0, n)
        made.append(delivery)
    return Seeded(made[0].referral_id, made[1].referral_id, c.PERSON.person_token)
