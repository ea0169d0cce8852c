"""Audit records, one small builder per kind; ids deterministic, so replays dedupe.

Stages call these through the wrapper (pipeline/stage.py audits every output with
`audit_for_output`) or return them in `Result.audits`; the command line and the UIs call
`view_audit`, `admin_audit` and `replay_audit`. Records hold tokens and ids, never names
or payloads.
"""
from __future__ import annotations

import getpass
from datetime import datetime
from typing import Protocol

from pipeline import records as r
from pipeline.clock import Clock
from pipeline.ids import digest
from pipeline.vocab import AuditKind, Purpose


class Context(Protocol):
    """Where an audited event happened: the consumed message (pipeline.stage.Context is one)."""

    stage: str
    source: r.SourceRef
    clock: Clock
    trace_id: str
    partition: int
    offset: int


def audit_id(*parts: object) -> str:
    return digest(*parts, length=32)


def os_user() -> str:
    """The operating-system user running this process ('' when it cannot be told)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in a bare container: record nothing rather than guess
        return ""


# ---------------------------------------------------------------- pipeline stages

def audit_for_output(stage: str, kind: AuditKind, ctx: Context, partition: int, offset: int, index: int,
                     topic: str, value: r.Record) -> r.AuditEvent:
    """The audit record of one output of one consumed message (ingest, detection, referral request, ...)."""
    fields = _subject_fields(value)
    envelope = getattr(value, "envelope", None)
    entities = [ctx.source]
    if envelope is not None:
        entities.append(r.SourceRef(topic=topic, record_id=envelope.event_id, version=envelope.source_record_version))
    return r.AuditEvent(
        audit_id=audit_id(stage, ctx.source.topic, partition, offset, index),
        kind=kind, stage=stage, recorded_at=ctx.clock.now(), actor=f"stage:{stage}",
        correlation_id=envelope.correlation_id if envelope is not None else "",
        trace_id=ctx.trace_id, entities=entities, detail={"output_topic": topic}, **fields)


def ingest_audit(edge: str, topic: str, envelope: r.Envelope, at: datetime, trace_id: str = "") -> r.AuditEvent:
    """A connector took a source record in at an edge (before the first topic)."""
    return r.AuditEvent(
        audit_id=audit_id("ingest", envelope.event_id), kind=AuditKind.INGEST, stage=edge, recorded_at=at,
        actor=envelope.sender or f"connector:{edge}", correlation_id=envelope.correlation_id, trace_id=trace_id,
        entities=[r.SourceRef(topic=topic, record_id=envelope.source_record_id,
                              version=envelope.source_record_version)],
        detail={"source_system": envelope.source_system, "event_id": envelope.event_id})


def _position(ctx: Context) -> tuple:
    """Where a stage made a record: stage, consumed topic, partition, offset. Ids built from it
    repeat on a replay of that message and differ between stages and topics."""
    return ctx.stage, ctx.source.topic, ctx.partition, ctx.offset


def decision_audit(request: r.ReferralRequest, decision: r.Decision, ctx: Context) -> r.AuditEvent:
    """A consent decision (permit, permit-redacted, hold, deny) with its basis and Consent."""
    return r.AuditEvent(
        audit_id=audit_id("decision", decision.referral_id, request.revision, *_position(ctx)),
        kind=AuditKind.DECISION, stage=ctx.stage, recorded_at=decision.decided_at, outcome=decision.outcome.value,
        actor=f"stage:{ctx.stage}", correlation_id=request.envelope.correlation_id, trace_id=ctx.trace_id,
        person=request.person, entities=[ctx.source], referral_id=decision.referral_id,
        recipient_id=decision.recipient_id, purpose=decision.purpose, basis=decision.basis,
        variant=decision.variant, consent_id=decision.consent_id,
        detail={"reasons": "; ".join(decision.reasons), "policy": decision.policy_version,
                "routing": decision.routing_version, "directory": decision.directory_version})


def unrouted_audit(request: r.ReferralRequest, ctx: Context, county: str, directory_version: str) -> r.AuditEvent:
    """A referral request no recipient in the directory serves: on record, so a programme sees the gap."""
    return r.AuditEvent(
        audit_id=audit_id("unrouted", request.request_id, request.revision, *_position(ctx)),
        kind=AuditKind.DECISION, stage=ctx.stage, recorded_at=ctx.clock.now(), outcome="no-recipient",
        actor=f"stage:{ctx.stage}", correlation_id=request.envelope.correlation_id, trace_id=ctx.trace_id,
        person=request.person, entities=[ctx.source],
        detail={"service": request.service.value, "county": county, "directory": directory_version})


def _delivery_fields(delivery: r.Delivery, ctx: Context) -> dict:
    decision = delivery.decision
    return dict(stage=ctx.stage, actor=f"connector:{delivery.endpoint.kind}",
                correlation_id=delivery.envelope.correlation_id, trace_id=ctx.trace_id, person=delivery.person,
                entities=[ctx.source], referral_id=delivery.referral_id, recipient_id=delivery.recipient_id,
                purpose=decision.purpose, basis=decision.basis, variant=decision.variant,
                consent_id=decision.consent_id)


def delivery_attempt_audit(delivery: r.Delivery, ctx: Context, outcome: str, error: str = "") -> r.AuditEvent:
    """One try to send (outcome 'failure' with the error class when it did not get through)."""
    detail = {"message_id": delivery.message_id, "format": delivery.format.value, "attempt": str(delivery.attempt)}
    if error:
        detail["error"] = error[:300]
    return r.AuditEvent(audit_id=audit_id("attempt", delivery.delivery_id, delivery.attempt),
                        kind=AuditKind.DELIVERY_ATTEMPT, recorded_at=ctx.clock.now(), outcome=outcome,
                        detail=detail, **_delivery_fields(delivery, ctx))


def disclosure_audit(delivery: r.Delivery, ctx: Context, outcome: str = "delivered") -> r.AuditEvent:
    """The PrivacyDisclosure: who received what about whom, when, on which basis. `outcome`: delivered,
    duplicate (the recipient already held it), or unconfirmed (it went out, its receipt was never
    acknowledged, and a later one replaced it: a possible disclosure, which the accounting lists)."""
    return r.AuditEvent(audit_id=audit_id("disclosure", delivery.delivery_id), kind=AuditKind.DELIVERY_RESULT,
                        recorded_at=ctx.clock.now(), outcome=outcome,
                        detail={"message_id": delivery.message_id, "format": delivery.format.value,
                                "action": delivery.action.value, "revision": str(delivery.revision)},
                        **_delivery_fields(delivery, ctx))


def recheck_audit(delivery: r.Delivery, ctx: Context, problems: list[str]) -> r.AuditEvent:
    """The consent re-read just before sending found it changed: a deny on record, nothing sent."""
    audit = disclosure_audit(delivery, ctx)
    return audit.model_copy(update={
        "audit_id": audit_id("recheck", delivery.delivery_id, *_position(ctx)), "kind": AuditKind.DECISION,
        "outcome": "deny",
        "detail": {"reasons": "; ".join(problems)[:500], "message_id": delivery.message_id,
                   "check": "consent re-read before sending", "policy": delivery.decision.policy_version}})


def alert_audit(alert: r.DispatchAlert, ctx: Context, outcome: str, error: str = "") -> r.AuditEvent:
    """A dispatch-time alert sent to a team (`delivered`: the disclosure, on the decision's basis), or
    a send that failed (`retry`, `failure` with the error class). Never the alert's content."""
    decision = alert.decision
    detail = {"alert_id": alert.alert_id, "action": alert.action, "version": str(alert.incident_version),
              "attempt": str(alert.attempt), "endpoint": alert.endpoint.kind}
    if error:
        detail["error"] = error[:300]
    return r.AuditEvent(
        audit_id=audit_id("alert", alert.alert_id, alert.incident_version, alert.action, outcome, alert.attempt),
        kind=AuditKind.DELIVERY_RESULT if outcome == "delivered" else AuditKind.DELIVERY_ATTEMPT,
        stage=ctx.stage, recorded_at=ctx.clock.now(), outcome=outcome, actor=f"connector:{alert.endpoint.kind}",
        correlation_id=alert.envelope.correlation_id, trace_id=ctx.trace_id, entities=[ctx.source],
        recipient_id=alert.recipient_id, purpose=decision.purpose if decision else Purpose.EMERGENCY_RESPONSE,
        basis=decision.basis if decision else None, variant=decision.variant if decision else None, detail=detail)


def status_audit(status: r.ReferralStatus, ctx: Context, verdict=None, parked: bool = False) -> r.AuditEvent:
    """A status report as track judged it: applied, a repeat, or refused (with why); or parked, a
    provider's answer that came before the referral's send status (its verdict is a later record)."""
    detail = {"reported_by": status.reported_by, "source": status.source.value}
    if verdict is not None:
        detail["verdict"] = "applied" if verdict.applied else ("refused" if verdict.refused else "repeat")
        if verdict.refused:
            detail["refused"] = verdict.refused
    if parked:
        detail["verdict"] = "parked"
    outcome = "parked" if parked else "refused" if verdict is not None and verdict.refused else status.state.value
    return r.AuditEvent(
        audit_id=audit_id("status-parked" if parked else "status", status.envelope.event_id),
        kind=AuditKind.STATUS_CHANGE, stage=ctx.stage, recorded_at=ctx.clock.now(), outcome=outcome,
        actor=f"stage:{ctx.stage}", correlation_id=status.envelope.correlation_id, trace_id=ctx.trace_id,
        entities=[ctx.source], referral_id=status.referral_id, detail=detail)


def dead_letter_audit(stage: str, letter: r.DeadLetter) -> r.AuditEvent:
    return r.AuditEvent(
        audit_id=audit_id("dead-letter", letter.dead_letter_id), kind=AuditKind.DEAD_LETTER, stage=stage,
        recorded_at=letter.failed_at, outcome="failure", actor=f"stage:{stage}",
        entities=[r.SourceRef(topic=letter.topic, record_id=f"{letter.partition}@{letter.offset}")],
        detail={"reason": letter.reason[:500], "error_type": letter.error_type})


# ---------------------------------------------------------------- people: operators, officers, providers

def replay_audit(user: str, at: datetime, topic: str, dead_letter_ids: list[str], reason: str,
                 os_login: str = "") -> r.AuditEvent:
    """Someone put dead letters (or a topic range) back into the stream."""
    return r.AuditEvent(
        audit_id=audit_id("replay", user, at.isoformat(), topic, *sorted(dead_letter_ids)), kind=AuditKind.REPLAY,
        stage="operations", recorded_at=at, actor=f"user:{user}", os_user=os_login,
        entities=[r.SourceRef(topic=topic, record_id=i) for i in dead_letter_ids[:100]],
        detail={"count": str(len(dead_letter_ids)), "reason": reason[:300]})


def admin_audit(user: str, at: datetime, action: str, target: str, detail: dict[str, str] | None = None,
                os_login: str = "", outcome: str = "success") -> r.AuditEvent:
    """A change of configuration, rules, policy, directory, keys, or of the audit log itself (seal, expire)."""
    return r.AuditEvent(
        audit_id=audit_id("admin", user, at.isoformat(), action, target), kind=AuditKind.ADMIN,
        stage="administration", recorded_at=at, outcome=outcome, actor=f"user:{user}", os_user=os_login,
        entities=[r.SourceRef(topic="config", record_id=target)], detail={"action": action, **(detail or {})})


def view_audit(user: str, at: datetime, channel: str, what: str, person: r.PersonKey | None = None,
               referral_id: str = "", purpose: Purpose | None = None, query: str = "",
               os_login: str = "", outcome: str = "success") -> r.AuditEvent:
    """A person looked at person-level data: `user` is the signed-in user, `os_login` the
    operating-system user for the command line, `channel` cli | dashboard | inbox."""
    subject = person.person_token if person else referral_id
    return r.AuditEvent(
        audit_id=audit_id("view", channel, user, at.isoformat(), what, subject, query), kind=AuditKind.VIEW,
        stage=channel, recorded_at=at, outcome=outcome, actor=f"user:{user}", os_user=os_login, person=person,
        referral_id=referral_id, purpose=purpose, detail={"what": what, **({"query": query} if query else {})})


def answer_audit(user: str, status: r.ReferralStatus, channel: str, recipient_id: str, action: str) -> r.AuditEvent:
    """A provider's person answered a referral (accept, decline, contact made, completed) in the
    inbox: on record with the user, before the status event it produces. The reason is free text
    (it may name people), so the record says only whether one was given; the event carries it."""
    detail = {"action": action, "reason_given": "yes" if status.reason else "no"}
    return r.AuditEvent(
        audit_id=audit_id("answer", status.envelope.event_id), kind=AuditKind.STATUS_CHANGE, stage=channel,
        recorded_at=status.envelope.occurred_at, outcome=status.state.value, actor=f"user:{user}",
        correlation_id=status.envelope.correlation_id, referral_id=status.referral_id, recipient_id=recipient_id,
        entities=[r.SourceRef(topic="referral.status", record_id=status.envelope.event_id)], detail=detail)


def _subject_fields(value: r.Record) -> dict:
    """Person, referral, recipient and legal basis of a record, where it has them."""
    fields: dict = {}
    person = getattr(value, "person", None)
    if isinstance(person, r.PersonKey):
        fields["person"] = person
    decision = value if isinstance(value, r.Decision) else getattr(value, "decision", None)
    if isinstance(decision, r.Decision):
        fields.update(referral_id=decision.referral_id, recipient_id=decision.recipient_id,
                      purpose=decision.purpose, basis=decision.basis, variant=decision.variant,
                      consent_id=decision.consent_id, outcome=decision.outcome.value)
    for attr in ("referral_id", "recipient_id"):
        if hasattr(value, attr):
            fields[attr] = getattr(value, attr)
    return fields
