"""The gate every disclosure passes: decide against the registry, hold, release, cancel.

Synchronous database work (stages call it through `asyncio.to_thread`); the decisions are
`decide`'s. Holds and registry writes are immediate (write-locked) transactions, so a
consent committed while a request is being held is never missed: either the gate's read
sees it (permit), or the hold row exists before the consent's `consent` record is consumed
(the release finds it).

    gate = Gate(store, policy, hold_lifetime=timedelta(days=30))
    decisions = gate.decide(request, [(Recipient.of(p), purpose), ...], now)    # refer
    gate.record_holds(request, targets, now)                                   # consent.pending
    released, cancelled = gate.on_consent_change(person, now, trigger)         # consent topic
    cancelled = gate.expire(now); ...produce...; gate.confirm(cancelled)       # a timer
    problems = gate.recheck(delivery, now)                                     # just before sending
    gate.record_use(delivery, now)                                             # after sending

The outreach worklist is `worklist(programme_id)` (open holds, oldest first, with expiry).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from pipeline import records as r
from pipeline.consent.decide import Recipient, decide, recheck
from pipeline.consent.policy import CONSENT_BASES, Policy
from pipeline.consent.registry import Registry
from pipeline.storage import StorageError, Store, Transaction
from pipeline.vocab import Outcome, Purpose, ReferralState, StatusSource

Target = tuple[Recipient, Purpose]
HOLD_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class Cancellation:
    """A referral (held, or sent on a consent) that must be cancelled, and why."""

    referral_id: str
    envelope: r.Envelope
    reason: str
    sent: bool  # True: the recipient has it (it must be told); False: a hold that never left


@dataclass(frozen=True)
class Release:
    request: r.ReferralRequest
    decision: r.Decision


def cancelled_status(c: Cancellation) -> r.ReferralStatus:
    """The `referral.status` event that asks for a cancellation: track records it, and for a
    referral the recipient already has, delivery sends the cancel (REF^I14 / Task cancelled)."""
    envelope = c.envelope.model_copy(update={"event_id": f"status:{c.referral_id}:cancelled:consent",
                                             "source_system": "handoff:consent"})
    return r.ReferralStatus(envelope=envelope, referral_id=c.referral_id, state=ReferralState.CANCELLED,
                            business_status="6.0", reason=c.reason[:500], reported_by="handoff:consent",
                            source=StatusSource.CONSENT_GATE)


def _p(person: r.PersonKey) -> dict:
    return {"token": person.person_token, "kv": person.key_version}


@dataclass(frozen=True)
class Routed:
    """The routing rules and directory versions that chose a decision's recipient (stamped on it)."""

    routing_version: str = ""
    directory_version: str = ""

    def stamp(self, decision: r.Decision) -> r.Decision:
        if not (self.routing_version or self.directory_version):
            return decision
        return decision.model_copy(update={"routing_version": self.routing_version,
                                           "directory_version": self.directory_version})


class Gate:
    def __init__(self, store: Store, policy: Policy, hold_lifetime: timedelta = HOLD_LIFETIME) -> None:
        self.store = store
        self.policy = policy
        self.registry = Registry(store)
        self.hold_lifetime = hold_lifetime

    # ------------------------------------------------------------ refer

    def decide(self, request: r.ReferralRequest, targets: Sequence[Target], now: datetime,
               routed: Routed = Routed()) -> list[r.Decision]:
        """One decision per target, stamped with the routing and directory versions that chose the
        targets; holds recorded (with them) in the same transaction as the registry read.
        The registry unreadable: every target held (fail closed), nothing recorded here (the
        consent.pending consumer records it later)."""
        try:
            with self.store.transaction(immediate=True) as tx:
                consents = self.registry.consents(request.person, tx)
                decisions = [routed.stamp(decide(request, rec, purpose, consents, self.policy, now))
                             for rec, purpose in targets]
                for (rec, _), decision in zip(targets, decisions):
                    if decision.outcome == Outcome.HOLD:
                        self._hold(tx, request, rec, decision, now)
                return decisions
        except StorageError:
            return [routed.stamp(decide(request, rec, purpose, None, self.policy, now)) for rec, purpose in targets]

    def record_holds(self, request: r.ReferralRequest, targets: Sequence[Target], now: datetime,
                     routed: Routed = Routed()) -> int:
        """Make sure each held target of a request on consent.pending is on the worklist; returns
        how many were new. Raises StorageError when the database is away (the stage dead-letters)."""
        with self.store.transaction(immediate=True) as tx:
            consents = self.registry.consents(request.person, tx)
            new = 0
            for rec, purpose in targets:
                decision = routed.stamp(decide(request, rec, purpose, consents, self.policy, now))
                if decision.outcome == Outcome.HOLD:
                    new += self._hold(tx, request, rec, decision, now)
            return new

    def _hold(self, tx: Transaction, request: r.ReferralRequest, rec: Recipient, decision: r.Decision,
              now: datetime) -> int:
        """Insert the hold, or refresh a still-open one with a newer revision of the request."""
        params = {**_p(request.person), "id": decision.referral_id, "req": request.request_id,
                  "rid": rec.id, "kind": rec.kind, "p2": int(rec.part2_programme), "co": int(rec.co_responder),
                  "purpose": decision.purpose.value,
                  "service": request.service.value, "prog": request.envelope.programme_id,
                  "reasons": "; ".join(decision.reasons)[:1000], "body": request.model_dump_json(),
                  "at": now.isoformat(), "exp": (now + self.hold_lifetime).isoformat(), "rev": request.revision,
                  "rv": decision.routing_version or None, "dv": decision.directory_version or None}
        inserted = tx.execute(
            "INSERT INTO consent_hold (referral_id, request_id, person_token, key_version, recipient_id,"
            " recipient_kind, recipient_part2, recipient_co_responder, purpose, service, programme_id, reasons,"
            " request, status, held_at, expires_at, routing_version, directory_version)"
            " VALUES (:id, :req, :token, :kv, :rid, :kind, :p2, :co, :purpose, :service, :prog, :reasons, :body,"
            " 'held', :at, :exp, :rv, :dv) ON CONFLICT (referral_id) DO NOTHING", params)
        if not inserted:
            row = tx.fetchone("SELECT status, request FROM consent_hold WHERE referral_id = :id", params)
            if row["status"] in ("held", "reviewed") and \
                    r.ReferralRequest.model_validate_json(row["request"]).revision < request.revision:
                # "reviewed": a link review confirmed the match (pipeline/outreach/links.py); the newer
                # revision still needs consent, so the hold opens again.
                tx.execute("UPDATE consent_hold SET request = :body, reasons = :reasons, status = 'held',"
                           " closed_at = NULL, close_reason = NULL WHERE referral_id = :id", params)
        return inserted

    # ------------------------------------------------------------ consent changes

    def on_consent_change(self, person: r.PersonKey, now: datetime,
                          trigger: str = "") -> tuple[list[Release], list[Cancellation]]:
        """After the person's consent set changed: release what now has a basis; cancel holds
        made before a revocation, and referrals sent on a consent that no longer holds.

        `trigger` names the message being handled (topic, partition, offset): rows it closed
        come back again when it is replayed after a crash, so its outputs are repeated (their
        ids are deterministic), never lost."""
        with self.store.transaction(immediate=True) as tx:
            consents = self.registry.consents(person, tx)
            revoked = [c.revoked_at for c in consents if c.revoked_at is not None and c.revoked_at <= now]
            released, cancelled = [], []
            rows = tx.fetchall("SELECT * FROM consent_hold WHERE person_token = :token AND key_version = :kv"
                               " AND (status = 'held' OR closed_by = :trigger) ORDER BY referral_id",
                               {**_p(person), "trigger": trigger or None})
            for row in rows:
                request = r.ReferralRequest.model_validate_json(row["request"])
                if row["status"] == "cancelled":  # closed by this very message before: repeat
                    cancelled.append(Cancellation(row["referral_id"], request.envelope, row["close_reason"], False))
                    continue
                if row["status"] == "held" and any(at >= datetime.fromisoformat(row["held_at"]) for at in revoked):
                    cancelled.append(self._close_hold(tx, row, request, "cancelled", "consent revoked", now, trigger))
                    continue
                decision = decide(request, held_recipient(row), Purpose(row["purpose"]), consents, self.policy, now)
                decision = Routed(row.get("routing_version") or "", row.get("directory_version") or "").stamp(decision)
                if decision.outcome in (Outcome.PERMIT, Outcome.PERMIT_REDACTED):
                    self._close_hold(tx, row, request, "released", f"released: {decision.reasons[0]}", now, trigger)
                    released.append(Release(request, decision))
                elif decision.outcome == Outcome.DENY:
                    cancelled.append(self._close_hold(tx, row, request, "cancelled",
                                                      f"denied: {decision.reasons[0]}", now, trigger))
            cancelled += self._cancel_uses(tx, consents, now, _p(person), trigger, "cancelled")
            return released, cancelled

    def expire(self, now: datetime) -> list[Cancellation]:
        """Holds past their lifetime, and referrals sent on a consent that has since expired.
        Two-phase: rows become 'cancelling' here and come back on every call until `confirm`
        (after their cancellations were produced) marks them 'cancelled'."""
        with self.store.transaction(immediate=True) as tx:
            days = self.hold_lifetime.total_seconds() / 86400
            for row in tx.fetchall("SELECT * FROM consent_hold WHERE status = 'held' AND expires_at <= :now",
                                   {"now": now.isoformat()}):
                self._close_hold(tx, row, None, "cancelling",
                                 f"hold expired after {days:g} days without a legal basis", now, "expiry")
            people = tx.fetchall("SELECT DISTINCT person_token, key_version FROM consent_use WHERE status = 'open'")
            for who in people:
                person = r.PersonKey(person_token=who["person_token"], key_version=who["key_version"])
                self._cancel_uses(tx, self.registry.consents(person, tx), now, _p(person), "expiry", "cancelling")
            holds = [Cancellation(row["referral_id"], r.ReferralRequest.model_validate_json(row["request"]).envelope,
                                  row["close_reason"], False)
                     for row in tx.fetchall("SELECT referral_id, request, close_reason FROM consent_hold"
                                            " WHERE status = 'cancelling' ORDER BY referral_id")]
            uses = [Cancellation(row["referral_id"], r.Delivery.model_validate_json(row["delivery"]).envelope,
                                 row["closed_by"] or "consent expired", True)
                    for row in tx.fetchall("SELECT referral_id, delivery, closed_by FROM consent_use"
                                           " WHERE status = 'cancelling' ORDER BY referral_id")]
            return holds + uses

    def confirm(self, cancellations: Sequence[Cancellation]) -> None:
        """The cancellations `expire` returned were produced: close them for good."""
        with self.store.transaction(immediate=True) as tx:
            for c in cancellations:
                table = "consent_use" if c.sent else "consent_hold"
                tx.execute(f"UPDATE {table} SET status = 'cancelled' WHERE referral_id = :id"
                           " AND status = 'cancelling'", {"id": c.referral_id})

    def _close_hold(self, tx: Transaction, row: dict, request: r.ReferralRequest | None, status: str, reason: str,
                    now: datetime, trigger: str) -> Cancellation | None:
        tx.execute("UPDATE consent_hold SET status = :status, closed_at = :at, close_reason = :reason,"
                   " closed_by = :by WHERE referral_id = :id AND status = 'held'",
                   {"status": status, "at": now.isoformat(), "reason": reason[:500], "id": row["referral_id"],
                    "by": trigger or None})
        return Cancellation(row["referral_id"], request.envelope, reason, sent=False) if request else None

    def _cancel_uses(self, tx: Transaction, consents: list[r.ConsentRecord], now: datetime, person: dict,
                     trigger: str, status: str) -> list[Cancellation]:
        out = []
        for row in tx.fetchall("SELECT referral_id, delivery, status, closed_by FROM consent_use"
                               " WHERE person_token = :token AND key_version = :kv"
                               " AND (status = 'open' OR (closed_by = :trigger AND status = 'cancelled'))"
                               " ORDER BY referral_id", {**person, "trigger": trigger or None}):
            delivery = r.Delivery.model_validate_json(row["delivery"])
            problems = recheck(delivery.decision, consents, self.policy, now)
            if row["status"] == "cancelled":  # closed by this very message before: repeat
                out.append(Cancellation(row["referral_id"], delivery.envelope, "consent no longer valid", True))
            elif problems:
                reason = "; ".join(problems)[:500]
                tx.execute("UPDATE consent_use SET status = :status, closed_at = :at, closed_by = :by"
                           " WHERE referral_id = :id",
                           {"at": now.isoformat(), "id": row["referral_id"], "status": status,
                            "by": reason if status == "cancelling" else (trigger or None)})
                out.append(Cancellation(row["referral_id"], delivery.envelope, reason, sent=True))
        return out

    # ------------------------------------------------------------ delivery

    def recheck(self, delivery: r.Delivery, now: datetime) -> list[str]:
        """Re-read the registry just before sending; the reasons not to send (empty: send).
        Raises StorageError when the registry cannot be read: do not send, try again later."""
        consents = self.registry.consents(delivery.person)
        return recheck(delivery.decision, consents, self.policy, now)

    def record_use(self, delivery: r.Delivery, now: datetime) -> None:
        """After a send on a consent basis: remember it, so a revocation can cancel it."""
        if delivery.decision.basis not in CONSENT_BASES:
            return
        with self.store.transaction(immediate=True) as tx:
            tx.execute("INSERT INTO consent_use (referral_id, person_token, key_version, consent_id, delivery,"
                       " status, used_at) VALUES (:id, :token, :kv, :cid, :body, 'open', :at)"
                       " ON CONFLICT (referral_id) DO UPDATE SET consent_id = excluded.consent_id,"
                       " delivery = excluded.delivery, status = 'open'",
                       {**_p(delivery.person), "id": delivery.referral_id, "cid": delivery.decision.consent_id,
                        "body": delivery.model_copy(update={"payload": b""}).model_dump_json(), "at": now.isoformat()})

    # ------------------------------------------------------------ the outreach seam

    def worklist(self, programme_id: str | None = None, limit: int = 200) -> list[dict]:
        """Open holds, oldest first: referral, person token, recipient, service, why, and until when.
        The outreach issue reads this (and `propose_from_field` / `put` to capture consent)."""
        sql = ("SELECT referral_id, request_id, person_token, key_version, recipient_id, purpose, service,"
               " programme_id, reasons, held_at, expires_at FROM consent_hold WHERE status = 'held'")
        params: dict = {"n": limit}
        if programme_id is not None:
            sql += " AND programme_id = :prog"
            params["prog"] = programme_id
        with self.store.transaction() as tx:
            return tx.fetchall(sql + " ORDER BY held_at, referral_id LIMIT :n", params)


def held_recipient(row) -> Recipient:
    """The recipient exactly as the hold's first decision saw it (kind, Part 2 programme, co-responder)."""
    return Recipient(row["recipient_id"], row["recipient_kind"], bool(row["recipient_part2"]),
                     bool(row["recipient_co_responder"]))
