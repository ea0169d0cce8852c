"""What a provider may answer to a referral in the inbox, and the status event each makes.

    status = provider_status("ref-1", "decline", "no capacity", "org-bridge-clinic", "prov-1", now)

Each answer is a `referral.status` event (the ReferralStatus record, source `provider`) that
track runs through the state machine (pipeline/track/machine.py). The page offers, and the
API accepts, only the answers the machine allows from the referral's current state, so a
person is told at once instead of track refusing later. A decline needs a reason here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline import records as r
from pipeline.track.machine import check as machine_check
from pipeline.vocab import ReferralState, StatusSource


@dataclass(frozen=True)
class Answer:
    state: ReferralState
    label: str
    verb: str
    needs_reason: bool = False


ANSWERS = {
    "accept": Answer(ReferralState.ACCEPTED, "Accept", "accept"),
    "decline": Answer(ReferralState.REJECTED, "Decline", "decline", needs_reason=True),
    "contact": Answer(ReferralState.IN_PROGRESS, "Contact made", "report contact on"),
    "complete": Answer(ReferralState.COMPLETED, "Completed", "complete"),
}
# Delivered, but track has not recorded the send yet (a crash, a full disk or a backlog can delay the
# deliver stage's status): the answer is taken, and track parks it until it has seen `requested`.
UNSEEN = ReferralState.REQUESTED


class AnswerRefused(ValueError):
    pass


def _current(state: str | None) -> ReferralState:
    return ReferralState(state) if state else UNSEEN


def check(action: str, reason: str, current: str | None) -> Answer:
    answer = ANSWERS.get(action)
    if answer is None:
        raise AnswerRefused(f"unknown action {action!r} (one of {', '.join(ANSWERS)})")
    if answer.needs_reason and not reason.strip():
        raise AnswerRefused(f"to {answer.verb} needs a reason")
    state = _current(current)
    if not machine_check(state, answer.state, StatusSource.PROVIDER).applied:
        raise AnswerRefused(f"cannot {answer.verb} a referral that is {state.value}")
    return answer


def available(current: str | None) -> list[tuple[str, Answer]]:
    state = _current(current)
    return [(name, a) for name, a in ANSWERS.items()
            if machine_check(state, a.state, StatusSource.PROVIDER).applied]


def provider_status(referral_id: str, action: str, reason: str, organisation: str, username: str,
                    now: datetime, programme_id: str = "") -> r.ReferralStatus:
    answer = ANSWERS[action]
    event_id = f"status:{referral_id}:{action}:{username}:{now.isoformat()}"
    envelope = r.Envelope(event_id=event_id, source_system=f"handoff:inbox:{organisation}",
                          source_record_id=referral_id, occurred_at=now, ingested_at=now,
                          correlation_id=referral_id, programme_id=programme_id, sender=f"user:{username}")
    return r.ReferralStatus(envelope=envelope, referral_id=referral_id, state=answer.state, reason=reason.strip()[:500],
                            reported_by=organisation, source=StatusSource.PROVIDER, recipient_id=organisation)
