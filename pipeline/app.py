"""The whole topology in one place: which stage consumes which topic and produces where.

    ems.run ──detect──► detection                      (surveillance, replay point)
            └─episode─► referral.request               (re-keyed by person token)
    referral.request ──route → decide → render──► delivery | consent.pending | audit only (deny)
    delivery ──connector──► referral.status
    referral.status ──track──► referral_state (storage)
    audit ──sink──► audit_record (storage: one hash chain per partition, signed segments)

Every stage runs through the one wrapper (pipeline/stage.py): decode, call, audit
first, produce, count, dead-letter. The functions below only adapt records to the pure
core (detect, episode, route, consent, render) and to the connectors.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from pydantic import SecretStr

from pipeline import records as r
from pipeline.audit.emit import decision_audit, disclosure_audit, status_audit, unrouted_audit
from pipeline.audit.sink import Sealer, store_audit
from pipeline.clock import Clock
from pipeline.consent import decide
from pipeline.deliver import Connector, sent_status
from pipeline.detect import Rules, classify_run
from pipeline.episode import requests_from_run
from pipeline.metrics import Metrics
from pipeline.render import referral_id, render_fhir
from pipeline.route import Directory, route
from pipeline.stage import Context, Output, Result, Sink, Stage, StageRunner
from pipeline.storage import Store
from pipeline.topics import Catalogue
from pipeline.track import apply_status
from pipeline.vocab import AuditKind, Outcome


@dataclass(frozen=True)
class Deps:
    """What the stages need, built once at start-up and passed down."""

    catalogue: Catalogue
    store: Store
    directory: Directory
    rules: Rules
    linkage_keys: dict[int, SecretStr]
    connectors: dict[str, Connector]
    clock: Clock
    audit_sealer: Sealer | None = None  # signs full audit segments as the sink fills them


def detect(deps: Deps, run: r.EmsRun, ctx: Context) -> Result:
    detection = classify_run(run, deps.rules)
    outputs = [Output("detection", run.key, detection)]
    for request in requests_from_run(run, detection, deps.linkage_keys):
        outputs.append(Output("referral.request", request.person, request, AuditKind.REFERRAL_REQUEST))
    return Result(outputs=outputs)


def refer(deps: Deps, request: r.Referral, ctx: Context) -> Result:
    county = request.subject.address.county if request.subject and request.subject.address else ""
    outputs, audits, held = [], [], 0
    candidates = route(request, deps.directory, county=county)
    if not candidates:  # nobody to ask: on record, so that a programme can see the gap
        audits.append(unrouted_audit(request, ctx, county, deps.directory.version))
    for candidate in candidates:
        recipient = candidate.provider
        decision = decide(request, candidate, referral_id(request, recipient.id), consents=[], now=ctx.clock.now())
        if decision.outcome in (Outcome.PERMIT, Outcome.PERMIT_REDACTED):
            outputs.append(Output("delivery", r.DeliveryKey(referral_id=decision.referral_id,
                                                            recipient_id=recipient.id),
                                  _delivery(request, decision, recipient, ctx)))
            continue
        audits.append(decision_audit(request, decision, ctx))
        if decision.outcome == Outcome.HOLD:
            outputs.append(Output("consent.pending", request.person, request, AuditKind.REFERRAL_REQUEST))
            held += 1
    return Result(outputs=outputs, audits=audits, held=held)


def _delivery(request: r.Referral, decision: r.Decision, recipient, ctx: Context) -> r.Delivery:
    payload = render_fhir(request, decision, recipient)
    envelope = request.envelope.model_copy(update={
        "event_id": f"delivery:{decision.referral_id}:{payload.message_id}", "source_system": "handoff:render"})
    return r.Delivery(envelope=envelope, delivery_id=f"{decision.referral_id}:{payload.message_id}",
                      referral_id=decision.referral_id, recipient_id=recipient.id, endpoint=recipient.endpoint,
                      format=payload.format, revision=request.revision, message_id=payload.message_id,
                      content_type=payload.content_type, payload=payload.body, decision=decision,
                      person=request.person)


async def deliver(deps: Deps, delivery: r.Delivery, ctx: Context) -> Result:
    connector = deps.connectors[delivery.endpoint.kind]
    receipt = await connector.deliver(delivery)
    status = sent_status(delivery, receipt.duplicate)
    disclosure = disclosure_audit(delivery, ctx, receipt.duplicate)  # the PrivacyDisclosure
    return Result(outputs=[Output("referral.status", r.ReferralKey(referral_id=delivery.referral_id), status,
                                  AuditKind.STATUS_CHANGE)], audits=[disclosure])


async def track(deps: Deps, status: r.ReferralStatus, ctx: Context) -> Result:
    await asyncio.to_thread(apply_status, deps.store, status)
    audit = status_audit(status, ctx)
    return Result(audits=[audit])


async def sink_audit(deps: Deps, event: r.AuditEvent, ctx: Context) -> Result:
    body = deps.catalogue["audit"].value.encode(event)
    await asyncio.to_thread(store_audit, deps.store, event, body, ctx.partition, ctx.offset)
    if deps.audit_sealer is not None:
        await asyncio.to_thread(deps.audit_sealer.seal, deps.store, deps.clock.now(), partitions=[ctx.partition])
    return Result()


def stages(deps: Deps) -> list[Stage]:
    return [
        Stage("detect", "ems.run", partial(detect, deps), AuditKind.DETECTION),
        Stage("refer", "referral.request", partial(refer, deps), AuditKind.DECISION),
        Stage("deliver", "delivery", partial(deliver, deps), AuditKind.DELIVERY_RESULT),
        Stage("track", "referral.status", partial(track, deps), AuditKind.STATUS_CHANGE),
        Stage("audit-sink", "audit", partial(sink_audit, deps), AuditKind.ADMIN),
    ]


def runners(deps: Deps, sink: Sink, metrics: Metrics) -> list[StageRunner]:
    return [StageRunner(stage, deps.catalogue, sink, deps.clock, metrics) for stage in stages(deps)]
