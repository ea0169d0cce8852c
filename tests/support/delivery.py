"""Deliveries for the delivery tests: the render cases' referral, rendered for one endpoint."""
from __future__ import annotations

from dataclasses import replace

from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.deliver.send import send_batch
from pipeline.render import default_redaction, render
from pipeline.stage import Context
from pipeline.vocab import Action
from tests.unit.render import cases as c


def delivery(kind: str, address: str, revision: int = 1, action: Action = Action.CREATE, pid: str = "org-bridge-clinic",
             request: r.ReferralRequest | None = None) -> r.Delivery:
    request = request or c.ems_request(revision)
    recipient = replace(c.provider(kind, pid), endpoint=r.Endpoint(kind=kind, address=address))
    decision = c.decision(request, recipient)
    sources = [c.ems_run(), c.incident()]
    payload = render(request, sources, decision, recipient, action=action, redaction=default_redaction())
    created = render(request, sources, decision, recipient, redaction=default_redaction())  # the ledger's digest
    return r.Delivery(envelope=c.envelope("req-ems"), delivery_id=f"{decision.referral_id}:{payload.message_id}",
                      referral_id=decision.referral_id, recipient_id=recipient.id, endpoint=recipient.endpoint,
                      format=payload.format, action=action, revision=request.revision, message_id=payload.message_id,
                      content_type=payload.content_type, payload=payload.body, decision=decision, person=request.person,
                      content_digest=created.content_digest)


def amended(kind: str, address: str, revision: int, phone: str, pid: str = "org-bridge-clinic") -> r.Delivery:
    """An update of `delivery(kind, address, pid=pid)`'s referral: revision `revision`, a new phone number."""
    request = c.ems_request(revision=revision).model_copy(update={"subject": c.patient().model_copy(
        update={"phone": phone})})
    return delivery(kind, address, revision=revision, action=Action.UPDATE, pid=pid, request=request)


def context(clock: FixedClock | None = None, offset: int = 0) -> Context:
    return Context("deliver", r.SourceRef(topic="delivery", record_id="req-ems"), clock or FixedClock(c.T0), "trace",
                   0, offset)


class Audits:
    """An audit writer that keeps what it was given, in order (the stage's `audit_now`)."""

    def __init__(self) -> None:
        self.written: list[r.AuditEvent] = []

    async def __call__(self, audits) -> None:
        self.written.extend(audits)


def fhir_settings(fhir_server, key: str = "rsa", **more):
    """The FHIR REST section for the test session's HAPI FHIR server (conftest `fhir_server`)."""
    from pipeline.settings import FhirRestDelivery

    return FhirRestDelivery(client_id=fhir_server.client_id, token_url=fhir_server.server.token_url,
                            private_key=getattr(fhir_server, f"{key}_key"), **more)


async def tasks(fhir_server, referral: str) -> list[dict]:
    """The Tasks the server holds for a referral (its placer identifier), read as a client would."""
    from connectors.fhir_rest import FhirRestConnector

    connector = FhirRestConnector(fhir_settings(fhir_server))
    try:
        headers = await connector.auth.header(connector.http)
        bundle = (await connector.http.get(f"{fhir_server.server.base}/Task", params={"_count": 500},
                                           headers=headers)).json()
    finally:
        await connector.aclose()
    return [e["resource"] for e in bundle.get("entry", [])
            if any(i.get("value") == referral for i in e["resource"].get("identifier", []))]


async def send(store, connector, delivery: r.Delivery, ctx: Context, policy, audit_now, metrics=None):
    """One delivery through `send_batch` (a batch of one); its failure raised, as the stage's retries see it."""
    [done] = await send_batch(store, {delivery.endpoint.kind: connector}, [(delivery, ctx)], policy, audit_now, metrics)
    if isinstance(done, BaseException):
        raise done
    return done
