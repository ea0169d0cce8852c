"""Link review: requests held because the person match is uncertain (`decide` never permits one).

    rows = queue(store, programme)                        # open holds whose reason is the uncertain match
    revision = confirm(store, "ref-…", "ana", now)        # the request again, match exact, revision + 1
    relinked = split(store, "ref-…", "ana", now, keys)    # not the same person: a person of its own

A confirmation closes the hold as `reviewed` and returns a new revision of the request with
match `exact`, for the caller to produce to `referral.request`: the refer stage routes and
decides it like any other (a consent still lacking holds it again: the gate reopens a reviewed
hold for a newer revision; the episode merge keeps the confirmed match).

A split closes the hold as `cancelled` (nothing was ever sent) and relinks the request: a new
revision under a person key of its own (the linkage key over this request alone, so nothing
else is linked under it: match exact) and a new episode, for the caller to produce to
`referral.request` too, where it meets the gate as a new person's request. The source records
merged into the held request stay with it (a split does not take a merged request apart).
The caller writes the audit record of either.
"""
from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

from pipeline import records as r
from pipeline.episode import request_id
from pipeline.episode.identity import person_token
from pipeline.ids import digest
from pipeline.storage import Store
from pipeline.vocab import Match

UNCERTAIN = "person match is uncertain%"


class LinkError(ValueError):
    pass


def queue(store: Store, programme: str | None, limit: int = 200) -> list[dict]:
    sql = ("SELECT referral_id, request, held_at FROM consent_hold WHERE status = 'held' AND reasons LIKE :why")
    params: dict = {"why": UNCERTAIN, "n": limit}
    if programme is not None:  # a team sees its own programme's only (None: every programme, the command line)
        sql, params["prog"] = sql + " AND programme_id = :prog", programme
    with store.transaction() as tx:
        rows = tx.fetchall(sql + " ORDER BY held_at, referral_id LIMIT :n", params)
    return [{"referral_id": row["referral_id"], "held_at": row["held_at"],
             "request": r.ReferralRequest.model_validate_json(row["request"])} for row in rows]


def _close(store: Store, referral_id: str, status: str, reason: str, now: datetime) -> r.ReferralRequest:
    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT request FROM consent_hold WHERE referral_id = :id AND status = 'held'"
                          " AND reasons LIKE :why", {"id": referral_id, "why": UNCERTAIN})
        if row is None:
            raise LinkError(f"no uncertain match waiting for review under {referral_id}")
        tx.execute("UPDATE consent_hold SET status = :status, closed_at = :at, close_reason = :reason"
                   " WHERE referral_id = :id", {"id": referral_id, "status": status, "at": now.isoformat(),
                                                 "reason": reason[:500]})
        return r.ReferralRequest.model_validate_json(row["request"])


def _revision(held: r.ReferralRequest, what: str, user: str, now: datetime, **changes) -> r.ReferralRequest:
    revision = held.revision + 1
    envelope = held.envelope.model_copy(update={"event_id": f"{held.envelope.event_id}:{what}:{revision}",
                                                "ingested_at": now, "sender": f"user:{user}"})
    return held.model_copy(update={"match": Match.EXACT, "revision": revision, "envelope": envelope, **changes})


def confirm(store: Store, referral_id: str, user: str, now: datetime) -> r.ReferralRequest:
    held = _close(store, referral_id, "reviewed", f"link confirmed by {user}", now)
    return _revision(held, "link-confirmed", user, now)


def split(store: Store, referral_id: str, user: str, now: datetime, keys: dict[int, SecretStr]) -> r.ReferralRequest:
    held = _close(store, referral_id, "cancelled", f"link split by {user}: not the same person", now)
    person, _ = person_token(r.Person(), keys, fallback_id=f"split:{held.request_id}")  # this request alone
    episode = "ep-" + digest("split", held.episode_id, held.request_id, length=24)
    return _revision(held, "link-split", user, now, person=person, episode_id=episode,
                     request_id=request_id(person.person_token, episode, held.service))
