"""Provider replies over MLLP: RRI^I12/I13/I14 from a recipient's EHR → referral.status.

A listener of its own (its own port), separate from the agencies' ePCR intake: the client
certificate names a provider (an `edges.agencies` entry of kind `provider` whose name is its
directory id, allowed to send `status`). Each RRI carries RF1-1 (the referral's status:
A accepted, R rejected, P pending → in progress, E expired) and RF1-6 (the referral id we
sent); it becomes a `referral.status` report from source `provider`, reported by that
provider, with a deterministic event id (provider + MSH-10), committed (audit first,
acks=all) before the ACK AA. The track stage's state machine decides what it may change
and refuses a report about a referral this provider did not receive.
"""
from __future__ import annotations

import time

from connectors.common import Parsed, ParseResult, Refused
from connectors.edge.auth import Agency
from connectors.edge.commit import Batch, Unavailable
from connectors.edge.mllp import MllpListener
from connectors.hl7v2 import build_ack
from pipeline import records as r
from pipeline.render.hl7 import BadReply, parse_reply
from pipeline.vocab import StatusSource

EDGE = "mllp-replies"
TOPIC = "referral.status"


def status_from_reply(frame: bytes, provider: str, received_at) -> ParseResult:
    """One RRI from `provider` → its status report, or why it was refused."""
    reply = parse_reply(frame)
    if isinstance(reply, BadReply):
        return Refused(None, reply.reason)
    if reply.kind != "rri" or reply.state is None:
        return Refused(reply.control_id or None, "only RRI referral responses are taken here")
    if not reply.referral_id:
        return Refused(reply.control_id or None, "RF1-6 (the referral id) is empty")
    event = f"rri:{provider}:{reply.control_id}"
    envelope = r.Envelope(event_id=event, source_system=f"hl7:{provider}", source_record_id=reply.referral_id,
                          occurred_at=received_at, ingested_at=received_at, correlation_id=reply.referral_id,
                          sender=provider)
    return Parsed(r.ReferralStatus(envelope=envelope, referral_id=reply.referral_id, state=reply.state,
                                   business_status=reply.business_status, reason=reply.reason,
                                   reported_by=provider, message_id=reply.control_id,
                                   source=StatusSource.PROVIDER, recipient_id=provider))


class ReplyListener(MllpListener):
    """The MLLP listener (framing, TLS, idle and size limits) with RRI handling."""

    async def handle(self, frame: bytes, agency: Agency) -> bytes:
        started = time.perf_counter()
        ctx = self.edge.context(agency)
        if "status" not in agency.may_send:
            result: ParseResult = Refused(None, f"{agency.id} may not send referral status")
            code = "AR"
        else:
            result = status_from_reply(frame, agency.id, ctx.received_at)
            code = "AA" if isinstance(result, Parsed) else "AE"
        try:
            done = await self.edge.commit(EDGE, [Batch(TOPIC, [result])], frame, f"mllp:{agency.id}", agency, ctx)
        except Unavailable:
            code, reason, done = "AR", "not stored: resend later", None
        else:
            reason = "; ".join(x.reason for x in done.refused)
        self.edge.metrics.requests.labels(EDGE, code if done is not None else "unavailable").inc()
        self.edge.metrics.seconds.labels(EDGE).observe(time.perf_counter() - started)
        return build_ack(frame, code, reason, error_code="207", at=self.edge.clock.now())
