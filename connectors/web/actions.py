"""What a provider may answer to a referral in the inbox, as data, and the status event each makes.

    status = provider_status("ref-1", "decline", "no capacity", "org-bridge-clinic", now)

Each answer is a `referral.status` event (the ReferralStatus record) reported by the recipient;
track applies it. Until the closed-loop state machine lands, `from_states` is the only rule: an
answer that does not fit the referral's current state is refused with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline import records as r
from pipeline.vocab import ReferralState


@dataclass(frozen=True)
class Answer:
    state: ReferralState
    label: str
    verb: str
    from_states: tuple[str, ...]
    needs_reason: bool = False


ANSWERS = {
    "accept": Answer(ReferralState.ACCEPTED, "Accept", "accept", ("requested",)),
    "decline": Answer(ReferralState.REJECTED, "Decline", "decline", ("requested", "accepted"), needs_reason=True),
    "contact": Answer(ReferralState.IN_PROGRESS, "Contact made", "report contact on", ("accepted",)),
    "complete": Answer(ReferralState.COMPLETED, "Completed", "complete", ("accepted", "in-progress")),
}
UNSEEN = "requested"  # delivered, but track has not recorded the send yet


class AnswerRefused(ValueError):
    pass


def check(action: str, reason: str, current: str | None) -> Answer:
    answer = ANSWERS.get(action)
    if answer is None:
        raise AnswerRefused(f"unknown action {action!r} (one of {', '.join(ANSWERS)})")
    if answer.needs_reason and not reason.strip():
        raise AnswerRefused(f"to {answer.verb} needs a reason")
    state = current or UNSEEN
    if state not in answer.from_states:
        raise AnswerRefused(f"cannot {answer.verb} a referral that is {state}")
    return answer


def available(current: str | None) -> list[tuple[str, Answer]]:
    state = current or UNSEEN
    return [(name, a) for name, a in ANSWERS.items() if state in a.from_states]


def provider_status(referral_id: str, action: str, reason: str, organisation: str, username: str,
                    now: datetime, programme_id: str = "") -> r.ReferralStatus:
    answer = ANSWERS[action]
    event_id = f"status:{referral_id}:{action}:{username}:{now.isoformat()}"
    envelope = r.Envelope(event_id=event_id, source_system=f"handoff:inbox:{organisation}",
                          source_record_id=referral_id, occurred_at=now, ingested_at=now,
                          correlation_id=referral_id, programme_id=programme_id, sender=f"user:{username}")
    return r.ReferralStatus(envelope=envelope, referral_id=referral_id, state=answer.state, reason=reason.strip()[:500],
                            reported_by=organisation)
