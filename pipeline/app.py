"""The whole topology in one place: the table at the bottom of this module (STAGES, PERIODIC)
declares every stage — its name, the topic it consumes, the topics it may produce to, its
function and its error policy — and the periodic tasks. `handoff topology` prints the
diagram generated from that table (pipeline/topology.py); the runner refuses an output to
a topic a stage did not declare (a permanent error: dead letter).

Every stage runs through the one wrapper (pipeline/stage.py): decode, call, audit
first, produce, count, retry or dead-letter. The functions below only adapt records to
the pure core (detect, episode, route, consent, render) and to the connectors; each is
named like its stage.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta, timezone, tzinfo
from functools import partial
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from pipeline import alerts, detect, episode
from pipeline import records as r
from pipeline.audit.emit import (admin_audit, alert_audit, decision_audit, recheck_audit, status_audit,
                                 unrouted_audit)
from pipeline.audit.sink import Sealer, store_audits
from pipeline.clock import Clock
from pipeline.config.live import LiveConfig
from pipeline.consent import (Cancellation, Gate, Recipient, Routed, cancelled_status, flagged_in_field,
                              flagged_in_run, load_policy)
from pipeline.deliver import Connector, ledger
from pipeline.deliver.send import REFUSED, AuditNow, Policy, send_batch
from pipeline.detect import Rules, load_rules
from pipeline.episode import DEFAULT_WINDOW
from pipeline.episode import state as episodes
from pipeline.errors import HandoffError, Permanent, Transient
from pipeline.metrics import Metrics
from pipeline.render import Party, Redaction, referring_party, render, render_cancel
from pipeline.route import DirectorySource, Provider, RoutingRules, load_routing_rules, place_of, route
from pipeline.report.stages import report_detection, report_detections, report_request, report_requests
from pipeline.settings import ReportSettings, Settings
from pipeline.stage import Context, OnError, Output, Result, RetryPolicy, Sink, Stage, StageRunner, Writer
from pipeline.storage import Store
from pipeline.topics import Catalogue
from pipeline.topology import Periodic, select
from pipeline.track import apply_status, escalation_request, record_exhausted, unpark
from pipeline.track.deadlines import Deadlines, load_deadlines
from pipeline.vocab import Action, AuditKind, Outcome


log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Deps:
    """What the stages need, built once at start-up and passed down."""

    catalogue: Catalogue
    store: Store
    directory: DirectorySource
    routing: RoutingRules
    rules: Rules
    linkage_keys: dict[int, SecretStr]
    connectors: dict[str, Connector]
    clock: Clock
    episode_window: timedelta = DEFAULT_WINDOW
    audit_sealer: Sealer | None = None  # signs full audit segments as the sink fills them
    gate: Gate | None = None  # the consent registry, policy and holds (pipeline/consent)
    consent_flags: frozenset[str] = frozenset()  # ePCR custom elements that flag a consent to refer
    timezone: tzinfo = timezone.utc  # the site's: opening hours in the directory are local times
    deadlines: Deadlines | None = None  # the closed loop's deadlines (pipeline/track/deadlines.yaml)
    sweep_seconds: float = 60.0  # the consent sweeper's period
    deadline_sweep_seconds: float = 60.0  # how often missed deadlines are looked for
    parked_for: timedelta = timedelta(hours=72)  # a provider's report with no send status is refused after this
    episode_retention: timedelta = timedelta(days=90)  # episode state older than this is purged
    agency_role: Callable[[str], str] = lambda agency_id: ""  # the agency registry (settings.agencies)
    delivery: Policy = Policy()  # one send in flight per referral (lease), when a transient failure is final
    audit_now: AuditNow | None = None  # writes audit records at once (the delivery attempt, before the send)
    live: LiveConfig | None = None  # installed versions of rules, routing, directory, policy (pipeline/config)
    metrics: Metrics | None = None  # delivery latency and failures by connector, alert counts and times (`runners`)
    report: ReportSettings = field(default_factory=ReportSettings)  # reports and the surveillance feed

    def in_force(self) -> "Deps":
        """These deps with the installed configuration versions in force (blocking: a database read)."""
        if self.live is None:
            return self
        self.live.refresh()
        return self.live.apply(self)

    @classmethod
    def build(cls, settings: Settings, catalogue: Catalogue, store: Store, connectors: dict[str, Connector],
              clock: Clock, **overrides) -> "Deps":
        """The stages' dependencies from the settings (the one place they are assembled)."""
        values = dict(
            catalogue=catalogue, store=store, connectors=connectors, clock=clock, rules=load_rules(),
            directory=DirectorySource(settings.routing.directory, settings.routing.directory_ttl_seconds),
            routing=load_routing_rules(), linkage_keys=settings.security.linkage_keys,
            episode_window=timedelta(hours=settings.routing.episode_window_hours),
            gate=Gate(store, load_policy(settings.consent.policy), timedelta(days=settings.consent.hold_days)),
            consent_flags=frozenset(settings.consent.field_flag_elements),
            timezone=ZoneInfo(settings.routing.timezone), deadlines=load_deadlines(settings.track.deadlines),
            sweep_seconds=settings.consent.sweep_seconds, deadline_sweep_seconds=settings.track.sweep_seconds,
            parked_for=timedelta(hours=settings.track.parked_hours),
            episode_retention=timedelta(days=settings.routing.episode_retention_days), delivery=Policy.of(settings),
            agency_role=settings.agency_role, report=settings.report,
            live=LiveConfig(store, settings.config.poll_seconds))
        values.update(overrides)
        return cls(**values)


async def classify_run(deps: Deps, run: r.EmsRun, ctx: Context) -> Result:
    """An EMS run: classify it (with its CAD incident as context), then open or update the
    referral requests of its incident's persons (re-keyed by person token)."""
    return (await classify_runs(deps, [(run, ctx)]))[0]


async def classify_runs(deps: Deps, batch: Sequence[tuple[r.EmsRun, Context]]) -> list[Result]:
    """classify-run's batch form: the runs saved and their incidents read in one transaction."""
    seen = await asyncio.to_thread(episodes.save_runs, deps.store, [run for run, _ in batch], deps.clock.now())
    return [await _classified(deps, run, runs, incident, ctx) for (run, ctx), (runs, incident) in zip(batch, seen)]


async def _classified(deps: Deps, run: r.EmsRun, runs: list[r.EmsRun], incident, ctx: Context) -> Result:
    rid = run.envelope.source_record_id
    if not any(other.envelope.source_record_id == rid for other in runs):
        runs = [*runs, run]  # a newer version of it is stored under another incident: this one is still classified
    classified = [(other, detect.classify_run(other, deps.rules, dispatch=incident)) for other in runs]
    detection = next(d for other, d in classified if other.envelope.source_record_id == rid)
    outputs = [Output("detection", run.key, detection)]
    for request in episode.incident_requests(classified, deps.routing, deps.linkage_keys, incident, deps.agency_role):
        if any(s.record_id == run.envelope.source_record_id for s in request.source_records):
            outputs.append(Output("referral.request", request.person, request, AuditKind.REFERRAL_REQUEST))
            if flagged_in_run(run, deps.consent_flags):  # a proposed consent: capture starts (outreach)
                await _propose(deps, request.person, f"ems.run:{run.agency_id}/{run.pcr_number}", ctx)
    return Result(outputs=outputs)


async def _propose(deps: Deps, person: r.PersonKey, source: str, ctx: Context) -> None:
    """A consent flag from the field becomes a *proposed* consent in the registry (never a permit);
    the registry's producer publishes the person's set on its next sweep."""
    await asyncio.to_thread(deps.gate.registry.propose_from_field, person, source, ctx.clock.now(),
                            f"stage:{ctx.stage}")


async def classify_incident(deps: Deps, incident: r.DispatchIncident, ctx: Context) -> Result:
    """A CAD incident version: classify it by call type and notes, keep it as its runs' context;
    a live behavioural-health call alerts the on-duty co-responder teams the policy permits
    (pipeline/alerts.py: each team decided like any disclosure; a refusal is audited)."""
    await asyncio.to_thread(episodes.save_record, deps.store, "dispatch.incident", incident, incident.key,
                            ctx.clock.now())
    detection = detect.classify_incident(incident, deps.rules)
    now = ctx.clock.now()
    sent = await asyncio.to_thread(alerts.alerted, deps.store, incident.key)
    directory = deps.directory.current()
    found = alerts.plan(incident, detection, directory, deps.routing, deps.gate.policy,
                        now.astimezone(deps.timezone), sent)
    question = alerts.request(incident, detection, deps.routing)
    return Result(outputs=[Output("detection", incident.key, detection),
                           *(Output("dispatch.alert", incident.key, alert, AuditKind.DECISION)
                             for alert in alerts.records(found, incident, directory, now))],
                  audits=[decision_audit(question, d, ctx) for d in found.refused])


ALERTED = {"alert": "sent", "update": "updated", "withdraw": "withdrawn"}  # metric outcome of each action


async def send_alert(deps: Deps, alert: r.DispatchAlert, ctx: Context) -> Result:
    """An alert, update or withdrawal through its team's connector (one that can carry alerts:
    `webhook`), unless the team has it already (table dispatch_alert, written once it answered).
    A transient failure goes on to the next retry tier (dispatch.alert.retry.*), the last one's
    and a permanent one are dead letters; each failure is audited and counted at once."""
    connector = deps.connectors.get(alert.endpoint.kind)
    wire = await asyncio.to_thread(alerts.settle, deps.store, alert, ctx.clock.now())
    if wire is None:
        return Result()
    try:
        if not hasattr(connector, "alert"):
            raise Permanent(f"endpoint kind {alert.endpoint.kind!r} cannot carry a dispatch alert: configure a webhook")
        await connector.alert(wire)
    except HandoffError as e:
        final = not isinstance(e, Transient) or ctx.source.topic == ALERT_RETRY[-1]
        await (deps.audit_now or _no_audit_writer)([alert_audit(wire, ctx, "failure" if final else "retry",
                                                                f"{type(e).__name__}: {e}")])
        if final and deps.metrics is not None:
            deps.metrics.alerts.labels("failed").inc()
        raise
    now = ctx.clock.now()
    await asyncio.to_thread(alerts.sent, deps.store, wire, now)
    if deps.metrics is not None:
        deps.metrics.alerts.labels(ALERTED[wire.action]).inc()
        if wire.action != "withdraw":
            deps.metrics.alert_seconds.observe((now - wire.envelope.ingested_at).total_seconds())
    return Result(audits=[alert_audit(wire, ctx, "delivered")])


async def field_requests(deps: Deps, referral: r.FieldReferral, ctx: Context) -> Result:
    """A referral made in the field: a request per service it asks for."""
    await asyncio.to_thread(episodes.save_record, deps.store, "field.referral", referral, referral.incident,
                            ctx.clock.now())
    requests = episode.field_requests(referral, deps.routing, deps.linkage_keys, deps.agency_role)
    if requests and flagged_in_field(referral):
        await _propose(deps, requests[0].person, f"field.referral:{referral.agency_id}/{referral.referral_id}", ctx)
    return Result(outputs=[Output("referral.request", q.person, q, AuditKind.REFERRAL_REQUEST) for q in requests])


async def route_decide_render(deps: Deps, incoming: r.ReferralRequest, ctx: Context) -> Result:
    """Merge into the person's episode, then route → decide → render, per recipient."""
    return (await route_decide_renders(deps, [(incoming, ctx)]))[0]


async def route_decide_renders(deps: Deps, batch: Sequence[tuple[r.ReferralRequest, Context]]) -> list[Result]:
    """route-decide-render's batch form: the whole batch in one thread hand-off and one transaction
    (`store.batch`); each request in order merged into its episode, routed, decided, rendered, as
    one at a time would (each request's database work is a savepoint of the batch's transaction)."""
    def run() -> list[Result]:
        with deps.store.batch():
            return [_route_decide_render(deps, episodes.merge_request(deps.store, q, deps.episode_window,
                                                                      ctx.clock.now()), ctx) for q, ctx in batch]
    return await asyncio.to_thread(run)


def _route_decide_render(deps: Deps, request: r.ReferralRequest, ctx: Context) -> Result:
    """One merged request: route, decide, render (blocking: run in the batch's thread)."""
    now = ctx.clock.now()
    directory, place, candidates = _route(deps, request, now)
    outputs, audits, held = [], [], 0
    if not candidates:  # nobody to ask: on record, so that a programme can see the gap
        audits.append(unrouted_audit(request, ctx, place.county or place.zip, directory.version))
        if request.exclude:  # an escalation found no one left to ask: outreach must act
            record_exhausted(deps.store, request, now)
    targets = [(Recipient.of(c.provider), c.purpose) for c in candidates]
    decisions = deps.gate.decide(request, targets, now,  # reads the registry, holds
                                 Routed(deps.routing.version, directory.version))
    sources, sent, first = _render_inputs(deps, request, decisions)
    for candidate, decision in zip(candidates, decisions):
        provider = candidate.provider
        if decision.outcome in (Outcome.PERMIT, Outcome.PERMIT_REDACTED):
            delivery = _delivery(deps, request, sources, sent, first, decision, provider, ctx)
            if delivery is not None:  # None: the recipient holds this content already
                outputs.append(Output("delivery", r.DeliveryKey(referral_id=decision.referral_id,
                                                                recipient_id=provider.id), delivery))
            continue
        audits.append(decision_audit(request, decision, ctx))
        if decision.outcome == Outcome.HOLD:
            outputs.append(Output("consent.pending", request.person, request, AuditKind.REFERRAL_REQUEST))
            held += 1
    ledger.rendered(deps.store, _first_contents(outputs), now)
    return Result(outputs=outputs, audits=audits, held=held)


def _route(deps: Deps, request: r.ReferralRequest, now):
    directory = deps.directory.current()
    place = place_of(request.subject.address if request.subject else None, request.location)
    candidates = route(request, directory, deps.routing, place, now.astimezone(deps.timezone), age=request.age,
                       language=request.subject.language if request.subject else "",
                       exclude=frozenset(request.exclude))[:deps.routing.fan_out]
    return directory, place, candidates


async def release_held(deps: Deps, request: r.ReferralRequest, ctx: Context) -> Result:
    """A held request: make sure it is on the outreach worklist (when the registry was away at
    decision time it is not yet), and release it at once if a consent arrived meanwhile."""
    now = ctx.clock.now()
    directory, _, candidates = _route(deps, request, now)
    targets = [(Recipient.of(c.provider), c.purpose) for c in candidates]
    await asyncio.to_thread(deps.gate.record_holds, request, targets, now, Routed(deps.routing.version,
                                                                                   directory.version))
    return await consent_changed(deps, r.ConsentSet(person=request.person, registry_version=0, updated_at=now), ctx)


async def consent_changed(deps: Deps, consents: r.ConsentSet, ctx: Context) -> Result:
    """A person's consent set changed (the registry's `consent` record): release held requests
    that now have a basis; cancel holds made before a revocation and referrals sent on a consent
    that no longer holds (a `referral.status` cancelled: track records it, delivery tells the
    recipient)."""
    trigger = f"{ctx.source.topic}:{ctx.partition}@{ctx.offset}"  # a replay repeats what this closed
    released, cancelled = await asyncio.to_thread(deps.gate.on_consent_change, consents.person, ctx.clock.now(),
                                                  trigger)
    outputs, audits = [], []
    directory = deps.directory.current()
    for item in released:
        audits.append(decision_audit(item.request, item.decision, ctx))
        try:
            provider = directory.get(item.decision.recipient_id)
        except KeyError:  # the recipient left the directory while the request was held
            cancelled.append(Cancellation(item.decision.referral_id, item.request.envelope,
                                          "recipient no longer in the directory", sent=False))
            continue
        sources, sent, first = await asyncio.to_thread(_render_inputs, deps, item.request, [item.decision])
        delivery = _delivery(deps, item.request, sources, sent, first, item.decision, provider, ctx)
        if delivery is not None:
            outputs.append(Output("delivery", r.DeliveryKey(referral_id=item.decision.referral_id,
                                                            recipient_id=provider.id), delivery))
            await asyncio.to_thread(ledger.rendered, deps.store, _first_contents(outputs[-1:]), ctx.clock.now())
    outputs += [Output("referral.status", r.ReferralKey(referral_id=c.referral_id), cancelled_status(c),
                       AuditKind.STATUS_CHANGE) for c in cancelled]
    told = await asyncio.to_thread(ledger.holdings, deps.store, [c.referral_id for c in cancelled if c.sent])
    for c in cancelled:
        held = told.get(c.referral_id) if c.sent else None
        if held is not None and held.action != "cancel":
            referring = await _referring(deps, held)
            outputs.append(Output("delivery", r.DeliveryKey(referral_id=held.referral_id,
                                                            recipient_id=held.recipient_id),
                                  _cancel_delivery(held, consents.person, c, directory, referring)))
    return Result(outputs=outputs, audits=audits)


async def _referring(deps: Deps, held: ledger.Held) -> Party:
    """The party the cancelled referral named as its sender (so the I14 names the I12's)."""
    request = await asyncio.to_thread(episodes.load_request, deps.store, held.decision.request_id)
    try:
        if request is not None:
            sources = await asyncio.to_thread(episodes.load_sources, deps.store, request.source_records)
            return referring_party(request, sources)
    except episodes.MissingSource:
        pass
    return Party("handoff", "Handoff")  # purged since: the programme itself


def _cancel_delivery(held: ledger.Held, person: r.PersonKey, cancel: Cancellation, directory,
                     referring: Party) -> r.Delivery:
    """Tell a recipient that holds a referral it is cancelled (REF^I14, Task cancelled), at the
    endpoint that referral went to, even when the recipient has left the directory since."""
    try:
        provider = replace(directory.get(held.recipient_id), endpoint=held.endpoint)
    except KeyError:
        provider = _Gone(held.recipient_id, held.recipient_id, held.endpoint)
    revision = held.revision + 1
    payload = render_cancel(held.referral_id, person, provider, cancel.reason, cancel.envelope.occurred_at,
                            referring=referring)
    envelope = cancel.envelope.model_copy(update={
        "event_id": f"delivery:{held.referral_id}:{payload.message_id}", "source_system": "handoff:deliver"})
    decision = held.decision.model_copy(update={"reasons": [f"cancelled: {cancel.reason}"[:500]],
                                                "decided_at": cancel.envelope.occurred_at})
    return r.Delivery(envelope=envelope, delivery_id=f"{held.referral_id}:{payload.message_id}",
                      referral_id=held.referral_id, recipient_id=held.recipient_id, endpoint=held.endpoint,
                      format=payload.format, action=Action.CANCEL, revision=revision, message_id=payload.message_id,
                      content_type=payload.content_type, payload=payload.body, decision=decision, person=person,
                      content_digest=payload.content_digest)


@dataclass(frozen=True)
class _Gone:
    """A recipient no longer in the directory, as a cancellation names it."""

    id: str
    name: str
    endpoint: r.Endpoint


def _render_inputs(deps: Deps, request: r.ReferralRequest, decisions: list[r.Decision]):
    """What rendering reads first (a mapping does no I/O): the request's source records, what each
    recipient already holds of its referral (the ledger: then the message is an update, or nothing
    at all when its content is what the recipient holds), and the content each referral was first
    rendered with (any other content is an update, even before the create has settled). Blocking."""
    if not any(d.outcome in (Outcome.PERMIT, Outcome.PERMIT_REDACTED) for d in decisions):
        return [], {}, {}
    referrals = [d.referral_id for d in decisions]
    return (episodes.load_sources(deps.store, request.source_records), ledger.holdings(deps.store, referrals),
            ledger.first_renders(deps.store, referrals))


def _first_contents(outputs: list[Output]) -> dict[str, str]:
    """The content digest of each rendered delivery, by referral (the ledger keeps the first)."""
    return {o.value.referral_id: o.value.content_digest for o in outputs if o.topic == "delivery"}


def _delivery(deps: Deps, request: r.ReferralRequest, sources, held: dict[str, ledger.Held], first: dict[str, str],
              decision: r.Decision, provider: Provider, ctx: Context) -> r.Delivery | None:
    """The outbox record for one permitted recipient, or None when it holds this content already.
    The first content rendered for a referral is its create; any other content an update."""
    has = held.get(decision.referral_id)
    redaction = Redaction.of(deps.gate.policy)
    payload = render(request, sources, decision, provider, action=Action.CREATE, redaction=redaction)
    digest = payload.content_digest  # of the content as a create: an update of the same content has the same
    created = first.get(decision.referral_id)
    action = Action.UPDATE if has is not None or created not in (None, digest) else Action.CREATE
    if has is not None and has.action != "cancel" and has.digest == digest:
        return None  # nothing new for nothing new
    if action == Action.UPDATE:
        payload = render(request, sources, decision, provider, action=action, redaction=redaction)
    envelope = request.envelope.model_copy(update={
        "event_id": f"delivery:{decision.referral_id}:{payload.message_id}", "source_system": "handoff:render"})
    return r.Delivery(envelope=envelope, delivery_id=f"{decision.referral_id}:{payload.message_id}",
                      referral_id=decision.referral_id, recipient_id=provider.id, endpoint=provider.endpoint,
                      format=payload.format, action=action, revision=request.revision, message_id=payload.message_id,
                      content_type=payload.content_type, payload=payload.body, decision=decision,
                      person=request.person, content_digest=digest)


async def deliver(deps: Deps, delivery: r.Delivery, ctx: Context) -> Result:
    """One delivery (the retry tiers' form): `delivers` of one, a failure raised."""
    [done] = await delivers(deps, [(delivery, ctx)])
    if isinstance(done, BaseException):
        raise done
    return done


async def delivers(deps: Deps, batch: Sequence[tuple[r.Delivery, Context]]) -> list[Result | BaseException]:
    """deliver's batch form: re-read the consent just before each claim (not for a cancellation: it
    discloses nothing new), then send under the delivery policy (pipeline/deliver/send.py: claims
    in one transaction, every attempt audit first, sends at once, settlings and consent uses in one
    transaction). One result each, or the error the stage's retries and dead letters take."""
    connectors = deps.connectors
    done: list[Result | BaseException | None] = [None] * len(batch)
    todo = []
    for i, (delivery, _) in enumerate(batch):
        if delivery.endpoint.kind in connectors:
            todo.append(i)
            continue
        if deps.metrics is not None:  # a deployment without the recipient's kind of connector: a dead letter to replay
            deps.metrics.delivery_failures.labels(delivery.endpoint.kind, "unconfigured").inc()
        done[i] = Permanent(f"no delivery connector for endpoint kind {delivery.endpoint.kind}: configure it, replay")
    outcomes = await send_batch(deps.store, connectors, [batch[i] for i in todo], deps.delivery,
                                deps.audit_now or _no_audit_writer, deps.metrics, on_sent=partial(_used, deps),
                                vet=partial(_recheck, deps))
    for i, outcome in zip(todo, outcomes):
        done[i] = outcome if isinstance(outcome, BaseException) else _delivered(batch[i][0], batch[i][1], outcome)
    return done  # type: ignore[return-value]


def _recheck(deps: Deps, delivery: r.Delivery, now) -> list[str]:
    return [] if delivery.action == Action.CANCEL else deps.gate.recheck(delivery, now)


def _used(deps: Deps, delivery: r.Delivery, now) -> None:
    if delivery.action != Action.CANCEL:
        deps.gate.record_use(delivery, now)


def _delivered(delivery: r.Delivery, ctx: Context, outcome) -> Result:
    key = r.ReferralKey(referral_id=delivery.referral_id)
    if outcome.state == REFUSED:  # the consent changed since the decision: nothing sent; cancel
        problems = list(outcome.problems)
        cancel = Cancellation(delivery.referral_id, delivery.envelope, "; ".join(problems), sent=False)
        return Result(outputs=[Output("referral.status", key, cancelled_status(cancel), AuditKind.STATUS_CHANGE)],
                      audits=[recheck_audit(delivery, ctx, problems)])
    outputs = [Output("referral.status", key, outcome.status, AuditKind.STATUS_CHANGE)] if outcome.status else []
    return Result(outputs=outputs, audits=outcome.audits)


async def track(deps: Deps, status: r.ReferralStatus, ctx: Context) -> Result:
    return (await tracks(deps, [(status, ctx)]))[0]


async def tracks(deps: Deps, batch: Sequence[tuple[r.ReferralStatus, Context]]) -> list[Result]:
    """track's batch form: the batch's reports applied in order, in one thread hand-off and one
    transaction (`store.batch`)."""
    def run() -> list[Result]:
        with deps.store.batch():
            return [_track(deps, status, ctx) for status, ctx in batch]
    return await asyncio.to_thread(run)


def _track(deps: Deps, status: r.ReferralStatus, ctx: Context) -> Result:
    """The state machine: apply (or refuse) the report; a decline or a missed deadline asks the
    next recipient through a request revision that excludes this one (route and decide again)."""
    now = ctx.clock.now()
    applied = apply_status(deps.store, status, deps.deadlines, now)
    if applied.parked:  # a provider's answer ahead of the referral's send status: applied after it
        return Result(audits=[status_audit(status, ctx, parked=True)])
    outputs, audits = [], [status_audit(status, ctx, applied.verdict)]
    if applied.verdict.escalate and applied.request_id and applied.recipient_id:
        request = escalation_request(deps.store, applied.request_id, applied.recipient_id,
                                     status.reason or status.state.value, now)
        if request is not None:
            outputs.append(Output("referral.request", request.person, request, AuditKind.REFERRAL_REQUEST))
    if applied.new:  # the referral is known now: the answers that came before its send status
        for early in unpark(deps.store, status.referral_id):
            result = _track(deps, early, ctx)
            outputs += result.outputs
            audits += result.audits
    return Result(outputs=outputs, audits=audits)


async def sink_audit(deps: Deps, event: r.AuditEvent, ctx: Context) -> Result:
    return (await sink_audits(deps, [(event, ctx)]))[0]


async def sink_audits(deps: Deps, batch: Sequence[tuple[r.AuditEvent, Context]]) -> list[Result]:
    """The audit sink's batch form: the batch's records appended in one transaction."""
    codec = deps.catalogue["audit"].value
    rows = [(event, codec.encode(event), ctx.partition, ctx.offset) for event, ctx in batch]
    def run() -> None:
        appended = store_audits(deps.store, rows)
        if deps.audit_sealer is not None:
            for (_, _, partition, _), new in zip(rows, appended):
                if new:
                    deps.audit_sealer.appended(deps.store, deps.clock.now(), partition)
    await asyncio.to_thread(run)  # one thread hand-off per batch
    return [Result() for _ in batch]


async def sweep_consents(deps: Deps, writer: Writer) -> None:
    """The consent registry's producer and hold expiry (pipeline/consent/sweep.py), one pass."""
    from pipeline.consent.sweep import sweep

    await sweep(deps.gate, writer, deps.clock)


async def sweep_deadlines(deps: Deps, writer: Writer) -> None:
    """Missed closed-loop deadlines become `referral.status` reports (pipeline/track/sweep.py), one pass."""
    from pipeline.track.sweep import sweep_deadlines as sweep

    await sweep(deps.store, writer, deps.clock, deps.parked_for)


async def poll_provider_tasks(deps: Deps, writer: Writer) -> None:
    """Providers' answers on FHIR servers: each open referral's Task read back (connectors that can,
    `read_status`); what it says becomes a `referral.status` report for track, audited as received."""
    from pipeline.audit.emit import ingest_audit
    from pipeline.errors import HandoffError
    from pipeline.track import open_at_endpoints

    connector = deps.connectors.get("fhir-rest")
    if connector is None or not hasattr(connector, "read_status"):
        return
    now = deps.clock.now()
    outputs, audits = [], []
    for referral_id, recipient_id, address in await asyncio.to_thread(open_at_endpoints, deps.store, "fhir-rest"):
        try:
            status = await connector.read_status(referral_id, recipient_id, address, now)
        except HandoffError as e:  # the server is away: the next pass asks again
            log.warning("task poll: %s not read: %s", recipient_id, type(e).__name__)
            continue
        if status is not None:
            outputs.append(Output("referral.status", r.ReferralKey(referral_id=referral_id), status,
                                  AuditKind.STATUS_CHANGE))
            audits.append(ingest_audit("fhir-task-poll", "referral.status", status.envelope, now))
    if outputs:
        await writer.write(audits, outputs, [])


async def purge_episodes(deps: Deps, writer: Writer) -> None:
    """Episode state past its retention is purged, and the send states of messages as old, with an
    `admin` audit record of the counts."""
    now = deps.clock.now()
    keep = await asyncio.to_thread(ledger.needed_persons, deps.store)  # unsettled deliveries, open holds
    counts = await asyncio.to_thread(episodes.purge, deps.store, now - deps.episode_retention, keep)
    counts["delivery_message"] = await asyncio.to_thread(ledger.purge_messages, deps.store,
                                                         now - deps.episode_retention)
    if any(counts.values()):
        audit = admin_audit("handoff", now, "purge-episode-state", "episode",
                            {k: str(v) for k, v in counts.items()}
                            | {"retention_days": f"{deps.episode_retention / timedelta(days=1):g}"})
        await writer.write([audit], [], [])


# ---------------------------------------------------------------- the topology, as data

S, P = Stage, Periodic
RETRY = ("delivery.retry.1m", "delivery.retry.10m", "delivery.retry.1h")  # delays: runtime.retry_topic_delays_seconds
ALERT_RETRY = ("dispatch.alert.retry.5s", "dispatch.alert.retry.30s", "dispatch.alert.retry.2m")  # a live call
ALERT_DELAYS = (5.0, 30.0, 120.0)
STAGES: tuple[Stage, ...] = (
    S("classify-run", "ems.run", classify_run, AuditKind.DETECTION, ("detection", "referral.request"),
      doc="detect in an EMS run (its CAD incident as context); open referral requests per person",
      batch_fn=classify_runs),
    S("classify-incident", "dispatch.incident", classify_incident, AuditKind.DETECTION, ("detection", "dispatch.alert"),
      doc="detect in a CAD incident; kept as its runs' context"),
    S("send-alert", "dispatch.alert", send_alert, AuditKind.DELIVERY_RESULT, ALERT_RETRY[:1], OnError.RETRY_TOPICS,
      ALERT_RETRY, "an alert, update or withdrawal to the co-responder team's webhook", tier_delays=ALERT_DELAYS),
    *(S(f"send-alert-{tier.rsplit('.', 1)[1]}", tier, send_alert, AuditKind.DELIVERY_RESULT, ALERT_RETRY[i + 1:i + 2],
        OnError.RETRY_TOPICS, ALERT_RETRY, "the same, once the alert's not_before is due", tier_delays=ALERT_DELAYS)
      for i, tier in enumerate(ALERT_RETRY)),
    S("field-requests", "field.referral", field_requests, AuditKind.REFERRAL_REQUEST, ("referral.request",),
      doc="a referral made in the field: a request per service"),
    S("route-decide-render", "referral.request", route_decide_render, AuditKind.DECISION,
      ("delivery", "consent.pending"),
      doc="merge into the episode, route, decide consent, render per recipient (a deny: audit only)",
      batch_fn=route_decide_renders),
    S("release-held", "consent.pending", release_held, AuditKind.DECISION, ("delivery", "referral.status"),
      doc="a held request onto the outreach worklist; released when a consent came meanwhile"),
    S("consent-changed", "consent", consent_changed, AuditKind.DECISION, ("delivery", "referral.status"),
      doc="release holds a new consent allows; cancel what a revocation or expiry ends"),
    S("deliver", "delivery", deliver, AuditKind.DELIVERY_RESULT, ("referral.status", RETRY[0]), OnError.RETRY_TOPICS,
      RETRY, "re-read consent, send through the recipient's connector", batch_fn=delivers),
    *(S(f"deliver-{tier.rsplit('.', 1)[1]}", tier, deliver, AuditKind.DELIVERY_RESULT,
        ("referral.status", *RETRY[i + 1:i + 2]), OnError.RETRY_TOPICS, RETRY,
        "the same, once the record's not_before is due") for i, tier in enumerate(RETRY)),
    S("track", "referral.status", track, AuditKind.STATUS_CHANGE, ("referral.request",),
      doc="the referral state machine (referral_state); a decline or missed deadline asks the next recipient",
      batch_fn=tracks),
    S("report-detection", "detection", report_detection, AuditKind.DECISION, ("surveillance.overdose",),
      doc="keep a recognised call's de-identified facts; an overdose to the surveillance feed (policy-gated),"
          " an area over its 24-hour threshold raises a spike alert", batch_fn=report_detections),
    S("report-request", "referral.request", report_request, AuditKind.ADMIN, (),
      doc="keep a referral request's pathway and area for the programme reports", batch_fn=report_requests),
    S("audit-sink", "audit", sink_audit, AuditKind.ADMIN, (),
      doc="one hash chain per partition into storage (audit_record), signed segments", batch_fn=sink_audits),
)
PERIODIC: tuple[Periodic, ...] = (
    P("consent-sweep", sweep_consents, ("consent", "referral.status"), lambda deps: deps.sweep_seconds,
      "every consent.sweep_seconds", "produce changed consent sets; cancel expired holds and consents"),
    P("deadline-sweep", sweep_deadlines, ("referral.status",), lambda deps: deps.deadline_sweep_seconds,
      "every track.sweep_seconds", "report missed closed-loop deadlines (the track stage escalates)"),
    P("task-poll", poll_provider_tasks, ("referral.status",), lambda deps: deps.deadline_sweep_seconds,
      "every track.sweep_seconds", "read providers' answers on the FHIR servers referrals went to"),
    P("episode-purge", purge_episodes, (), lambda deps: 3600.0,
      "hourly", "purge episode state past routing.episode_retention_days"),
)


def stages(deps: Deps, names: Sequence[str] | None = None) -> list[Stage]:
    """The declared stages (all, or those named) with their functions bound to `deps`."""
    return [replace(s, fn=partial(s.fn, deps), batch_fn=s.batch_fn and partial(s.batch_fn, deps))
            for s in select(STAGES, names)]


def runners(deps: Deps, sink: Sink, metrics: Metrics, policy: RetryPolicy = RetryPolicy(),
            names: Sequence[str] | None = None) -> list[StageRunner]:
    probes = {"database": partial(database_answers, deps.store)}
    if deps.metrics is None:
        deps = replace(deps, metrics=metrics)
    if deps.audit_now is None and sink is not None:  # the deliver stage audits its attempt before it sends
        deps = replace(deps, audit_now=partial(Writer(deps.catalogue, sink, "stage deliver").write, outputs=(),
                                               headers=()))
    made = []
    for row, stage in zip(select(STAGES, names), stages(deps, names)):
        runner = StageRunner(stage, deps.catalogue, sink, deps.clock, metrics, policy, probes)
        if deps.live is not None:
            runner.before_batch = partial(_follow_config, runner, row, deps, {"key": ()})
        made.append(runner)
    return made


async def _follow_config(runner: StageRunner, row: Stage, deps: Deps, bound: dict) -> None:
    """At a batch boundary: rebind the stage to the configuration versions in force when one was
    installed since its last batch (pipeline/config/live.py); the batch then runs under it alone."""
    await asyncio.to_thread(deps.live.refresh)
    key = deps.live.key
    if key == bound["key"]:
        return
    now = deps.live.apply(deps)
    runner.stage = replace(row, fn=partial(row.fn, now), batch_fn=row.batch_fn and partial(row.batch_fn, now))
    bound["key"] = key
    log.info("config: stage %s now runs under %s", row.name, deps.live.describe())


async def _no_audit_writer(audits) -> None:
    raise RuntimeError("the deliver stage runs without an audit writer")


async def database_answers(store: Store) -> bool:
    """Can a writer get at the database right now? (a record failing while this holds is the record's fault)"""
    def ping() -> bool:
        with store.transaction(immediate=True) as tx:
            return tx.fetchone("SELECT 1 AS one")["one"] == 1
    return await asyncio.to_thread(ping)
