"""Sends, with their policy (the connectors only speak their protocol), a batch at a time:

    done = await send_batch(store, connectors, [(delivery, ctx), ...], policy, audit_now)

A batch goes in rounds (`plan`): a round holds at most one delivery of a referral (the next one
comes in a later round, once this one settled), at most `policy.concurrency` sends per connector
and at most one per endpoint, in batch order (unless its connector says more: `per_endpoint`; the
inbox, `deliver_many`, takes a round in one call). Each round:

1. claims every referral's slot in the ledger, in one transaction (a savepoint each), once `vet` (the
   consent re-read) found no reason not to send (else the outcome is `refused`, nothing sent): nothing
   is sent when the recipient already holds this content (or newer), a send already in flight
   elsewhere is `Transient` (later), an update whose create has not settled waits (`Transient`);
2. writes every attempt audit of the round and awaits them, *before* any byte leaves;
3. sends, concurrently (a connector with `deliver_many`, the inbox, takes the round's deliveries
   in one call); then settles all in one transaction (a savepoint each; `on_sent` runs in it for
   each delivered one) and audits each result: delivered (the PrivacyDisclosure), or a failure with
   its class. A `Transient` or `Ambiguous` failure is returned (the stage's retries take it, its
   failure audit already written), until the `final_attempt`-th send of that message, which is
   final: `failed`. A `Permanent` one is final at once. A send the recipient acknowledged whose
   settling failed (the database away) has its disclosure written at once and its error returned.
   A transient failure of a resend after a send that was never answered stays `ambiguous`: the
   recipient may hold the earlier one. Such a message given up (failed, or failing on the stage's
   last retry tier, `ctx.last_try`) has its possible disclosure on record: `unconfirmed`.

One delivery's failure never undoes or holds up another's: each is a savepoint of the round's
transactions and comes back as its own outcome or error. Every send of a round starts at its
start, so each is within the lease its claim took (`lease_seconds` covers one send).

Counted on `metrics` when given: the ingest → acknowledgement latency of a sent delivery, and
each failed send by connector and outcome (retry, ambiguous, failed).

A crash between a send and its settling leaves the slot in flight; when the lease ends, the
replayed delivery is sent again with the same message id (PUT on the same ids, the same MSH-10,
the same Message-ID), so the recipient still holds one referral. A crash after the settling, before
the stage wrote its result, replays a delivery the recipient holds: nothing is sent, and its
disclosure record and status are produced again (the same ids: the sink and track keep one).
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Awaitable, Callable, Hashable, Sequence

from pipeline import records as r
from pipeline.audit.emit import audit_id, delivery_attempt_audit, disclosure_audit
from pipeline.deliver import Ambiguous, Connector, Receipt, failed_status, ledger, sent_status
from pipeline.errors import HandoffError, Permanent, Transient
from pipeline.storage import Store

if TYPE_CHECKING:
    from pipeline.metrics import Metrics
    from pipeline.stage import Context

AuditNow = Callable[[Sequence[r.AuditEvent]], Awaitable[None]]
OnSent = Callable[[r.Delivery, datetime], None]  # blocking, inside the settling transaction
Vet = Callable[[r.Delivery, datetime], list[str]]  # blocking, inside the claiming one: why not to send (empty: send)
REFUSED = "refused"  # the outcome of a delivery `vet` stopped (its reasons in `problems`): nothing sent


@dataclass(frozen=True)
class Policy:
    lease_seconds: float = 60.0
    final_attempt: int = 6  # the send of one message at which a transient failure is final (`failed`)
    concurrency: int = 16  # sends in flight at once per connector, in one round of a batch

    @classmethod
    def of(cls, settings) -> "Policy":
        d = settings.delivery
        return cls(d.lease_seconds, d.final_attempt, d.concurrency)


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | unchanged | stale | failed
    status: r.ReferralStatus | None = None
    audits: list[r.AuditEvent] = field(default_factory=list)
    detail: str = ""
    problems: tuple[str, ...] = ()  # refused: why not


Done = Outcome | BaseException  # one delivery's outcome, or the error the stage's retries take


async def send_batch(store: Store, connectors: dict[str, Connector], batch: Sequence[tuple[r.Delivery, "Context"]],
                     policy: Policy, audit_now: AuditNow, metrics: "Metrics | None" = None,
                     on_sent: OnSent | None = None, vet: Vet | None = None) -> list[Done]:
    """Every delivery of the batch, round by round (the module's docstring); one outcome or error each.
    `vet` (the consent re-read) runs just before each claim, in its savepoint; `on_sent` with each settling."""
    done: list[Done | None] = [None] * len(batch)
    for indices in plan([d for d, _ in batch], lanes_of(connectors, policy)):
        items = [batch[i] for i in indices]
        for i, outcome in zip(indices, await _round(store, connectors, items, policy, audit_now, metrics, on_sent, vet)):
            done[i] = outcome
    return done  # type: ignore[return-value]


Lane = tuple[Hashable, int, bool]  # (what is shared, how many per round, kept in batch order)


def plan(deliveries: Sequence[r.Delivery], lanes: Callable[[r.Delivery], list[Lane]]) -> list[list[int]]:
    """The rounds of a batch, as indices into it: a referral's deliveries in successive rounds, in
    order; no lane over its capacity in a round; an ordered lane's deliveries in batch order."""
    rounds: list[list[int]] = []
    used: list[Counter] = []
    last: dict[Hashable, int] = {}  # referral or ordered lane -> the round of its latest delivery
    for i, d in enumerate(deliveries):
        mine = lanes(d)
        k = max([last.get(("referral", d.referral_id), -1) + 1,
                 *(last.get(lane, -1) + (cap <= 1) for lane, cap, ordered in mine if ordered)])
        while k < len(rounds) and any(used[k][lane] >= cap for lane, cap, _ in mine):
            k += 1
        if k == len(rounds):
            rounds.append([])
            used.append(Counter())
        rounds[k].append(i)
        used[k].update(lane for lane, _, _ in mine)
        last[("referral", d.referral_id)] = k
        for lane, _, ordered in mine:
            if ordered:
                last[lane] = k
    return rounds


def lanes_of(connectors: dict[str, Connector], policy: Policy) -> Callable[[r.Delivery], list[Lane]]:
    """What a delivery shares with others in a round: its connector's concurrency and its endpoint,
    which takes one message at a time, in order, unless the connector says otherwise (`per_endpoint`:
    a FHIR server's transactions PUT shared resources, an MLLP receiver may want one connection). A
    connector that takes a round in one call (`deliver_many`) shares nothing."""
    def lanes(d: r.Delivery) -> list[Lane]:
        connector = connectors.get(d.endpoint.kind)
        if hasattr(connector, "deliver_many"):
            return []
        per_endpoint = getattr(connector, "per_endpoint", None) or 1
        return [(("connector", d.endpoint.kind), max(1, policy.concurrency), False),
                (("endpoint", d.endpoint.kind, d.endpoint.address), per_endpoint, per_endpoint == 1)]
    return lanes


async def _round(store: Store, connectors: dict[str, Connector], items: list[tuple[r.Delivery, "Context"]],
                 policy: Policy, audit_now: AuditNow, metrics: "Metrics | None", on_sent: OnSent | None,
                 vet: Vet | None) -> list[Done]:
    done: list[Done | None] = [None] * len(items)
    now = items[0][1].clock.now()
    try:
        slots = await asyncio.to_thread(_claims, store, [d for d, _ in items], now, policy.lease_seconds, vet)
    except Exception as e:  # the round's transaction did not commit: nothing was claimed, nothing sent
        return [e] * len(items)
    sending: list[tuple[int, r.Delivery, ledger.Claim]] = []
    attempts: list[r.AuditEvent] = []
    for i, ((delivery, ctx), slot) in enumerate(zip(items, slots)):
        if isinstance(slot, BaseException):
            done[i] = slot
        elif isinstance(slot, tuple):
            done[i] = Outcome(REFUSED, problems=slot)
        elif slot.replay:  # sent before: its result again (a crash may have lost it), never the message
            status = _sent_status(delivery, now) if slot.replay == ledger.HELD else None
            outcome = "unconfirmed" if slot.replay == ledger.UNCONFIRMED else "delivered"
            record = disclosure_audit(delivery, ctx, outcome)
            done[i] = Outcome(slot.outcome, status, [record])
        elif slot.outcome in (ledger.UNCHANGED, ledger.STALE):
            done[i] = Outcome(slot.outcome)
        elif slot.outcome == ledger.BUSY:
            done[i] = Transient(f"a send of {delivery.referral_id} is in flight elsewhere")
        elif slot.outcome == ledger.WAITING:
            done[i] = Transient(f"an update of {delivery.referral_id} waits for the referral's create to settle")
        else:
            tried = delivery.model_copy(update={"attempt": slot.attempts})
            attempt = delivery_attempt_audit(tried, ctx, "attempt")
            if slot.resend:
                attempt.detail["resend"] = slot.resend
            attempts.append(attempt)
            sending.append((i, tried, slot))
    if not sending:
        return done  # type: ignore[return-value]
    try:
        await audit_now(attempts)  # before any byte leaves
    except Exception as e:  # nothing sent; the slots' leases run out and a replay claims them again
        for i, _, _ in sending:
            done[i] = e
        return done  # type: ignore[return-value]
    receipts = await _transmit(connectors, [items[i][0] for i, _, _ in sending], policy.concurrency)
    settled = await _settle(store, items, sending, receipts, policy, metrics, on_sent)
    now_audits = [audit for _, audits in settled.values() for audit in audits]
    if now_audits:  # a result the stage will not write (the delivery goes back to it as an error) is on record first
        await audit_now(now_audits)
    for i, (result, _) in settled.items():
        done[i] = result
    return done  # type: ignore[return-value]


def _claims(store: Store, deliveries: list[r.Delivery], now: datetime, lease: float,
            vet: Vet | None) -> list[ledger.Claim | tuple[str, ...] | Exception]:
    """Every delivery vetted and claimed in one transaction; one that fails is undone alone (a savepoint)."""
    out: list[ledger.Claim | tuple[str, ...] | Exception] = []
    with store.batch():
        for delivery in deliveries:
            try:
                problems = tuple(vet(delivery, now)) if vet is not None else ()
                out.append(problems or ledger.claim(store, delivery, now, lease))
            except Exception as e:
                out.append(e)
    return out


async def _transmit(connectors: dict[str, Connector], deliveries: list[r.Delivery],
                    concurrency: int) -> list[Receipt | BaseException]:
    """Send a round: a `deliver_many` connector's share in one call, every other delivery on its own,
    at most `concurrency` at once per connector (the plan keeps a round within that)."""
    out: list[Receipt | BaseException | None] = [None] * len(deliveries)
    by_kind: dict[str, list[int]] = {}
    for i, d in enumerate(deliveries):
        by_kind.setdefault(d.endpoint.kind, []).append(i)

    async def many(connector, indices: list[int]) -> None:
        try:
            answers = await connector.deliver_many([deliveries[i] for i in indices])
        except Exception as e:
            answers = [e] * len(indices)
        for i, answer in zip(indices, answers, strict=True):
            out[i] = answer

    async def one(connector, i: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                out[i] = await connector.deliver(deliveries[i])
            except Exception as e:
                out[i] = e

    calls = []
    for kind, indices in by_kind.items():
        connector = connectors[kind]
        if hasattr(connector, "deliver_many"):
            calls.append(many(connector, indices))
        else:
            gate = asyncio.Semaphore(max(1, concurrency))
            calls += [one(connector, i, gate) for i in indices]
    await asyncio.gather(*calls)
    return out  # type: ignore[return-value]


async def _settle(store: Store, items, sending, receipts, policy: Policy, metrics: "Metrics | None",
                  on_sent: OnSent | None) -> dict[int, tuple[Done, list[r.AuditEvent]]]:
    """Settle the round's sends in one transaction; each delivery's outcome (or error) and the audit
    records to write now: a transient failure's result; the disclosure of a send the recipient
    acknowledged whose settling failed (the error goes back to the stage; the replay that settles it
    writes the same record again, one id, and a replay that never gets through cannot leave the
    disclosure unrecorded); and, when a message the recipient may hold (a send of it went
    unanswered) is given up, an `unconfirmed` disclosure."""
    now = items[0][1].clock.now()
    plans: list[tuple[int, r.Delivery, str, str, Receipt | HandoffError, bool]] = []
    results: dict[int, tuple[Done, list[r.AuditEvent]]] = {}
    for (i, tried, slot), receipt in zip(sending, receipts):  # (index, tried, state, detail, answer, may be held)
        maybe_held = isinstance(receipt, Ambiguous) or slot.unconfirmed  # this send or an earlier one unanswered
        if isinstance(receipt, Receipt):
            plans.append((i, tried, "sent", slot.resend, receipt, maybe_held))
        elif isinstance(receipt, Permanent):
            plans.append((i, tried, "failed", f"{type(receipt).__name__}: {receipt}", receipt, maybe_held))
        elif isinstance(receipt, Transient):
            final = slot.attempts >= policy.final_attempt
            state = "failed" if final else "ambiguous" if maybe_held else "retry"
            detail = f"gave up after {slot.attempts} sends: {receipt}" if final else str(receipt)
            plans.append((i, tried, state, detail, receipt, maybe_held))
        else:  # not the connector's answer (a bug): left in flight, as a crash would; the stage dead-letters it
            results[i] = (receipt, [])
    settle = [(items[i][0], state, detail) for i, _, state, detail, _, _ in plans]
    try:
        errors = await asyncio.to_thread(_settles, store, settle, now, on_sent)
    except Exception as e:  # the round's settling did not commit: the leases run out, replays resend the same
        errors = [e] * len(plans)
    for (i, tried, state, detail, answer, maybe_held), error in zip(plans, errors):
        delivery, ctx = items[i]
        given_up = state == "failed" or ctx.last_try  # failed here, or dead-lettered by the stage after this try
        may_hold = state != "sent" and maybe_held and given_up
        possible = [disclosure_audit(delivery, ctx, "unconfirmed")] if may_hold else []
        if error is not None and state == "sent":  # acknowledged, not settled: the disclosure is on record now
            results[i] = (error, [_disclosure(delivery, ctx, answer)])
        elif error is not None:
            results[i] = (error, [])
        elif state == "sent":
            results[i] = (_sent(delivery, ctx, answer, detail, metrics, now), [])
        elif state == "failed":
            failed = _failed(delivery, tried, ctx, detail, metrics, now)
            results[i] = (replace(failed, audits=failed.audits + possible), [])
        else:  # this send's own outcome (the ledger may keep `ambiguous` for an earlier unanswered one)
            outcome = "ambiguous" if isinstance(answer, Ambiguous) else "retry"
            if metrics is not None:
                metrics.delivery_failures.labels(delivery.endpoint.kind, outcome).inc()
            audit = delivery_attempt_audit(tried, ctx, outcome, f"{type(answer).__name__}: {answer}")
            results[i] = (answer, [audit.model_copy(update={"audit_id": _result_id(tried)}), *possible])
    return results


def _settles(store: Store, settle: list[tuple[r.Delivery, str, str]], now: datetime,
             on_sent: OnSent | None) -> list[Exception | None]:
    """Every settling in one transaction; one that fails is undone alone (a savepoint)."""
    errors: list[Exception | None] = []
    with store.batch():
        for delivery, state, detail in settle:
            try:
                with store.transaction(immediate=True):  # this delivery's savepoint: settled and its use kept together
                    ledger.settle(store, delivery, state, now, detail)
                    if state == "sent" and on_sent is not None:
                        on_sent(delivery, now)
                errors.append(None)
            except Exception as e:
                errors.append(e)
    return errors


def _sent(delivery: r.Delivery, ctx: "Context", receipt: Receipt, resend: str, metrics: "Metrics | None",
          acknowledged: datetime) -> Outcome:
    if metrics is not None:
        metrics.delivery_latency.labels(delivery.endpoint.kind).observe(
            max(0.0, (acknowledged - delivery.envelope.ingested_at).total_seconds()))
    disclosure = _disclosure(delivery, ctx, receipt)
    if resend:
        disclosure.detail["resend"] = resend
    return Outcome("sent", _sent_status(delivery, acknowledged, receipt.duplicate), [disclosure], resend)


def _disclosure(delivery: r.Delivery, ctx: "Context", receipt: Receipt) -> r.AuditEvent:
    return disclosure_audit(delivery, ctx, "duplicate" if receipt.duplicate else "delivered")


def _sent_status(delivery: r.Delivery, at: datetime, duplicate: bool = False) -> r.ReferralStatus | None:
    return None if delivery.action.value == "cancel" else sent_status(delivery, duplicate, at)


def _failed(delivery: r.Delivery, tried: r.Delivery, ctx: "Context", reason: str, metrics: "Metrics | None",
            at: datetime) -> Outcome:
    if metrics is not None:
        metrics.delivery_failures.labels(delivery.endpoint.kind, "failed").inc()
    audit = delivery_attempt_audit(tried, ctx, "failure", reason).model_copy(update={"audit_id": _result_id(tried)})
    return Outcome("failed", failed_status(delivery, reason, at), [audit], reason)


def _result_id(tried: r.Delivery) -> str:
    return audit_id("attempt-result", tried.delivery_id, tried.attempt)
