"""A generated month with known counts (fixed seed): report facts, referrals with their status
histories and consent holds, written to a migrated store. Everything is made up here."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from pipeline.report.facts import Call
from pipeline.report.store import save_call, save_request
from pipeline.report.tables import CATEGORY_ORDER, HOLD_ENDINGS, STAGES

MONTH = "2026-03"
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
# rows: ems-led, fire-led, police-led, self, dispatch-only
CALLS = [[40, 3, 12, 25, 0], [14, 0, 5, 11, 2], [0, 0, 8, 30, 1], [0, 0, 0, 0, 0], [6, 1, 0, 15, 0]]
REFERRALS = [[9, 14, 12, 20], [2, 11, 0, 13], [15, 4, 12, 11], [12, 0, 3, 0], [0, 0, 0, 0]]
HOLDS = [[12, 3, 0, 14], [0, 0, 0, 0], [11, 0, 2, 15], [1, 0, 0, 0], [0, 0, 0, 0]]
PATHWAYS = ("ems-led", "fire-led", "police-led", "self", "dispatch-only")
# hours to first contact for ems-led referrals engaged or completed (12 + 20 of them)
EMS_CONTACT_HOURS = [float(h) for h in range(1, 33)]  # median 16.5, p90 (nearest rank) 29


def _at(rng: random.Random) -> datetime:
    return START + timedelta(minutes=rng.randrange(0, 28 * 24 * 60))


def write(store, area: str = "53033", seed: int = 26) -> None:
    rng = random.Random(seed)
    n = 0
    for p, row in zip(PATHWAYS, CALLS):
        for c, count in zip(CATEGORY_ORDER, row):
            for _ in range(count):
                n += 1
                extra = {rng.choice(CATEGORY_ORDER[CATEGORY_ORDER.index(c):])}  # never outranks the main one
                save_call(store, Call(f"call-{area}-{n}", _at(rng), area, p, frozenset({c} | extra), False))
    # the month before and another area: outside the report
    save_call(store, Call("call-before", START - timedelta(hours=1), area, "ems-led", frozenset({"overdose"}), False))
    save_call(store, Call(f"call-other-{area}", _at(rng), "other-area", "ems-led", frozenset({"overdose"}), False))
    contact = iter(EMS_CONTACT_HOURS)
    with store.transaction(immediate=True) as tx:
        for p, row in zip(PATHWAYS, REFERRALS):
            for stage, count in zip(STAGES, row):
                for k in range(count):
                    rid = f"ref-{area}-{p}-{stage}-{k}"
                    created = _at(rng)
                    tx.execute("INSERT INTO referral_state (referral_id, state, request_id, created_at)"
                               " VALUES (:id, :s, :q, :at)", {"id": rid, "s": "requested", "q": f"req-{rid}",
                                                              "at": created.isoformat()})
                    path = {"not accepted": ["requested", "rejected"], "accepted": ["requested", "accepted"],
                            "engaged": ["requested", "accepted", "in-progress"],
                            "completed": ["requested", "accepted", "in-progress", "completed"]}[stage]
                    hours = next(contact) if p == "ems-led" and "in-progress" in path else rng.uniform(1, 100)
                    for e, state in enumerate(path):
                        at = created + (timedelta(hours=hours) if state == "in-progress"
                                        else timedelta(hours=hours + 1) if state == "completed"
                                        else timedelta(minutes=e))
                        tx.execute("INSERT INTO referral_status_history (referral_id, event_id, occurred_at,"
                                   " recorded_at, to_state, source, reported_by, outcome) VALUES (:id, :e, :at,"
                                   " :at, :s, 'provider', 'test', 'applied')",
                                   {"id": rid, "e": f"e{e}", "at": at.isoformat(), "s": state})
                    # a refused report never counts
                    tx.execute("INSERT INTO referral_status_history (referral_id, event_id, occurred_at,"
                               " recorded_at, to_state, source, reported_by, outcome) VALUES (:id, 'x', :at, :at,"
                               " 'completed', 'provider', 'test', 'refused')", {"id": rid, "at": created.isoformat()})
        for p, row in zip(PATHWAYS, HOLDS):
            for ending, count in zip(HOLD_ENDINGS, row):
                for k in range(count):
                    rid = f"hold-{area}-{p}-{ending}-{k}"
                    status, reason = {"released": ("released", None), "expired": ("cancelled", "hold expired"),
                                      "cancelled": ("cancelled", "consent revoked"),
                                      "still held": ("held", None)}[ending]
                    tx.execute("INSERT INTO consent_hold (referral_id, request_id, person_token, key_version,"
                               " recipient_id, recipient_kind, purpose, service, request, status, held_at,"
                               " expires_at, close_reason) VALUES (:id, :q, 'tok', 1, 'r', 'k', 'p', 's', '{}',"
                               " :status, :at, :at, :reason)", {"id": rid, "q": f"req-{rid}", "status": status,
                                                                "at": START.isoformat(), "reason": reason})
    for p, row in zip(PATHWAYS, REFERRALS):
        for stage, count in zip(STAGES, row):
            for k in range(count):
                save_request(store, f"req-ref-{area}-{p}-{stage}-{k}", MONTH, area, p)
    for p, row in zip(PATHWAYS, HOLDS):
        for ending, count in zip(HOLD_ENDINGS, row):
            for k in range(count):
                save_request(store, f"req-hold-{area}-{p}-{ending}-{k}", MONTH, area, p)
