"""The delivery ledger (table `delivery_ledger`, migration 0007): one row per referral.

    first = first_renders(store, referral_ids)      # before rendering: the content each referral was created with
    rendered(store, {referral_id: digest}, now)     # after it: the first content of a new referral
    claim = claim(store, delivery, now, lease)     # before a send: Send | Unchanged | Busy | Waiting
    settle(store, delivery, "sent", now)            # after it: what the recipient now holds
    held = holdings(store, referral_ids)            # what each recipient holds (digest, endpoint)

One send in flight per referral (a referral names one recipient): a claim takes a lease; a
second worker finds it busy until the lease ends (a crashed worker's lease simply runs out, and
the next claim resends the same message, which every connector makes idempotent). A message
whose content digest equals what the recipient already holds is not sent again (nothing new
for nothing new), and nor is an older revision than the one it holds, even while a later message
is in flight. Every message's last send is kept (table `delivery_message`, migration 0031): a
message that settled is never sent again, and its replay (a crash before its result was written)
is known as one (`Claim.replay`: HELD, SETTLED), so its result is produced again; a message whose
send was never confirmed (no answer, or a crash before the settling) and that a later one replaced
is not sent again either, and says so (`Claim.replay`: UNCONFIRMED): the recipient may hold it.
Those states go with the episode state (`purge_messages`, routing.episode_retention_days).

A referral's create is the first content rendered for it (table `referral_first_render`); other
content is an update, and an update waits until its referral's create has settled, so that it
never overtakes it (a create in a retry tier, an unanswered send).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline import records as r
from pipeline.storage import Store

SEND, UNCHANGED, STALE, BUSY, WAITING = "send", "unchanged", "stale", "busy", "waiting"
OPEN_STATES = ("in-flight", "ambiguous", "retry")  # a message that has not settled yet
_OPEN = f"state IN ({', '.join(repr(s) for s in OPEN_STATES)})"  # the same, in SQL
UNCONFIRMED_STATES = ("in-flight", "ambiguous")  # a send of the message went out, no acknowledgement on record
# Claim.replay: what a replay of an earlier send must produce again (its result may not have been written)
HELD = "held"  # the recipient holds this very message: its result and its status
SETTLED = "settled"  # it settled, and a later message of the referral since: its result, not its status
UNCONFIRMED = "unconfirmed"  # sent without an answer (or crashed unsettled), then replaced: a possible disclosure


RESENT = {"in-flight": "resent: an earlier send did not settle (crash before commit)",  # Claim.resend, by state
          "ambiguous": "resent: an earlier send got no answer (same message id)",
          "retry": "resent after a transient failure"}


@dataclass(frozen=True)
class Claim:
    outcome: str  # send | unchanged | stale | busy | waiting
    attempts: int = 0  # sends of this message so far, this one included
    resent_from: str = ""  # send: the state of the unsettled send this one repeats ('' for a first send)
    replay: str = ""  # unchanged or stale: HELD | SETTLED | UNCONFIRMED, or '' (this message was never sent)

    @property
    def resend(self) -> str:
        """Why this send repeats an earlier one ('' for a first send)."""
        return RESENT.get(self.resent_from, "")

    @property
    def unconfirmed(self) -> bool:
        """An earlier send of this message went out and was never acknowledged: the recipient may hold it."""
        return self.resent_from in UNCONFIRMED_STATES


@dataclass(frozen=True)
class Held:
    """What a recipient holds about a referral (the last acknowledged message), and where it went."""

    referral_id: str
    recipient_id: str
    message_id: str
    digest: str
    action: str
    revision: int
    endpoint: r.Endpoint
    decision: r.Decision | None


def claim(store: Store, delivery: r.Delivery, now: datetime, lease_seconds: float) -> Claim:
    """Take the referral's send slot for this delivery, or say why not."""
    digest = delivery.content_digest
    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT l.*, (SELECT m.state FROM delivery_message m WHERE m.message_id = :message)"
                          " AS sent_state FROM delivery_ledger l WHERE l.referral_id = :id",
                          {"id": delivery.referral_id, "message": delivery.message_id})
        if row is not None:
            if row["sent_message_id"] == delivery.message_id:  # a replay of what the recipient holds: never resent
                return Claim(UNCHANGED, row["attempts"], replay=HELD)
            if row["sent_state"] == "sent":  # a replay of a message a later one has replaced since: never resent
                return Claim(STALE, row["attempts"], replay=SETTLED)
            replay = UNCONFIRMED if row["sent_state"] in UNCONFIRMED_STATES else ""  # the recipient may hold it
            if row["sent_digest"] is not None and row["sent_digest"] == digest and row["sent_action"] == \
                    _kind(delivery) and row["state"] == "sent":
                return Claim(UNCHANGED, row["attempts"], replay=replay)
            if row["sent_digest"] is not None and delivery.revision < row["revision"]:  # older than what it holds
                return Claim(STALE, row["attempts"], replay=replay)
            if row["state"] == "in-flight" and row["lease_until"] and row["lease_until"] > now.isoformat():
                return Claim(BUSY, row["attempts"])
            if delivery.action.value == "update" and row["sent_message_id"] is None and row["state"] in OPEN_STATES \
                    and row["message_id"] != delivery.message_id:
                return Claim(WAITING, row["attempts"])  # the create has not settled: the update must not overtake it
        resent_from = ""
        if row is not None and row["message_id"] == delivery.message_id and row["state"] in OPEN_STATES:
            resent_from = row["state"]
        params = {"id": delivery.referral_id, "recipient": delivery.recipient_id,
                  "token": delivery.person.person_token, "message": delivery.message_id, "digest": digest,
                  "lease": (now + timedelta(seconds=lease_seconds)).isoformat(), "at": now.isoformat()}
        tx.execute("INSERT INTO delivery_message (message_id, referral_id, state, updated_at) VALUES (:message, :id,"
                   " 'in-flight', :at) ON CONFLICT (message_id) DO UPDATE SET state = 'in-flight', updated_at = :at",
                   params)
        if row is None:
            tx.execute("INSERT INTO delivery_ledger (referral_id, recipient_id, person_token, state, message_id,"
                       " content_digest, lease_until, attempts, updated_at) VALUES (:id, :recipient, :token,"
                       " 'in-flight', :message, :digest, :lease, 1, :at)", params)
            return Claim(SEND, 1)
        attempts = row["attempts"] + 1 if row["message_id"] == delivery.message_id else 1
        tx.execute("UPDATE delivery_ledger SET state = 'in-flight', message_id = :message, content_digest = :digest,"
                   " lease_until = :lease, attempts = :attempts, updated_at = :at WHERE referral_id = :id",
                   params | {"attempts": attempts})
        return Claim(SEND, attempts, resent_from)


def first_renders(store: Store, referral_ids: list[str]) -> dict[str, str]:
    """The content digest each of these referrals was first rendered with (its create)."""
    out: dict[str, str] = {}
    with store.transaction() as tx:
        for rid in dict.fromkeys(referral_ids):
            row = tx.fetchone("SELECT content_digest FROM referral_first_render WHERE referral_id = :id", {"id": rid})
            if row is not None:
                out[rid] = row["content_digest"]
    return out


def rendered(store: Store, digests: dict[str, str], now: datetime) -> None:
    """Keep the first content rendered for each referral (a later or replayed render changes nothing)."""
    if not digests:
        return
    with store.transaction(immediate=True) as tx:
        for rid, digest in digests.items():
            tx.execute("INSERT INTO referral_first_render (referral_id, content_digest, rendered_at)"
                       " VALUES (:id, :digest, :at) ON CONFLICT (referral_id) DO NOTHING",
                       {"id": rid, "digest": digest, "at": now.isoformat()})


def settle(store: Store, delivery: r.Delivery, state: str, now: datetime, detail: str = "") -> None:
    """After a send: `sent` (the recipient holds it now), `ambiguous` (no answer: resend the same),
    `retry` (a transient failure) or `failed` (permanent). Only `sent` changes what it holds."""
    params = {"id": delivery.referral_id, "state": state, "detail": detail[:500], "at": now.isoformat(),
              "message": delivery.message_id, "digest": delivery.content_digest, "action": _kind(delivery),
              "revision": delivery.revision, "kind": delivery.endpoint.kind, "address": delivery.endpoint.address,
              "decision": delivery.decision.model_dump_json()}
    held = (", sent_message_id = :message, sent_digest = :digest, sent_action = :action, revision = :revision,"
            " endpoint_kind = :kind, endpoint_address = :address, decision = :decision") if state == "sent" else ""
    with store.transaction(immediate=True) as tx:
        tx.execute(f"UPDATE delivery_ledger SET state = :state, lease_until = NULL, detail = :detail,"
                   f" updated_at = :at{held} WHERE referral_id = :id AND message_id = :message", params)
        tx.execute("INSERT INTO delivery_message (message_id, referral_id, state, updated_at) VALUES (:message, :id,"
                   " :state, :at) ON CONFLICT (message_id) DO UPDATE SET state = :state, updated_at = :at"
                   " WHERE delivery_message.state <> 'sent'", params)  # acknowledged once: sent for good


def holdings(store: Store, referral_ids: list[str]) -> dict[str, Held]:
    """What the recipients hold of these referrals (only those a message reached)."""
    out: dict[str, Held] = {}
    with store.transaction() as tx:
        for rid in dict.fromkeys(referral_ids):
            row = tx.fetchone("SELECT * FROM delivery_ledger WHERE referral_id = :id AND sent_message_id IS NOT NULL",
                              {"id": rid})
            if row is not None:
                out[rid] = _held(row)
    return out


def held_by(store: Store, person_token: str = "", recipient_id: str = "") -> list[Held]:
    """Referrals a recipient holds, by person or by recipient (a revocation, a recipient that left)."""
    column, value = ("person_token", person_token) if person_token else ("recipient_id", recipient_id)
    with store.transaction() as tx:
        rows = tx.fetchall(f"SELECT * FROM delivery_ledger WHERE {column} = :v AND sent_message_id IS NOT NULL"
                           " ORDER BY referral_id", {"v": value})
    return [_held(row) for row in rows]


def needed_persons(store: Store) -> frozenset[str]:
    """Person tokens whose episode state is still needed: a message not yet settled (it may be
    sent again) or a hold still open (it may be released). The episode purge spares them."""
    with store.transaction() as tx:
        rows = tx.fetchall(f"SELECT person_token FROM delivery_ledger WHERE {_OPEN}"
                           " UNION SELECT person_token FROM consent_hold WHERE status = 'held'")
    return frozenset(row["person_token"] for row in rows)


def purge_messages(store: Store, before: datetime) -> int:
    """Drop the send states of messages last sent or settled before `before` (the episode purge's
    cut: the sources a replay would render are gone by then too), except a message the ledger still
    has unsettled. Returns how many went."""
    with store.transaction(immediate=True) as tx:
        return tx.execute("DELETE FROM delivery_message WHERE updated_at < :cut AND message_id NOT IN"
                          f" (SELECT message_id FROM delivery_ledger WHERE {_OPEN}"
                          " AND message_id IS NOT NULL)", {"cut": before.isoformat()})


def _kind(delivery: r.Delivery) -> str:
    """Create and update are one content line; a cancellation is its own."""
    return "cancel" if delivery.action.value == "cancel" else "referral"


def _held(row: dict) -> Held:
    return Held(row["referral_id"], row["recipient_id"], row["sent_message_id"], row["sent_digest"],
                row["sent_action"], row["revision"], r.Endpoint(kind=row["endpoint_kind"], address=row["endpoint_address"]),
                r.Decision.model_validate_json(row["decision"]) if row["decision"] else None)
