"""Track: the one writer of referral state. Applies status events to `referral_state`.

This first cut records the latest state per referral; the closed-loop issue adds the
state machine, deadlines and escalation back through route and decide.
"""
from __future__ import annotations

from pipeline import records as r
from pipeline.storage import Store


def apply_status(store: Store, status: r.ReferralStatus, recipient_id: str = "", person_token: str = "") -> None:
    with store.transaction(immediate=True) as tx:
        changed = tx.execute(
            "UPDATE referral_state SET state = :state, updated_at = :at, revision = revision + 1"
            " WHERE referral_id = :id AND state <> :state",
            {"id": status.referral_id, "state": status.state.value, "at": status.envelope.occurred_at.isoformat()})
        if changed == 0:
            tx.execute(
                "INSERT INTO referral_state (referral_id, state, recipient_id, person_token, updated_at)"
                " VALUES (:id, :state, :recipient, :token, :at) ON CONFLICT (referral_id) DO NOTHING",
                {"id": status.referral_id, "state": status.state.value, "recipient": recipient_id or None,
                 "token": person_token or None, "at": status.envelope.occurred_at.isoformat()})
