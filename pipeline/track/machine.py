"""The referral state machine: which reporter may move a referral from which state to which.

States are the SDOHCC / Gravity referral Task.status set (`pipeline.vocab.ReferralState`);
BSeR's businessStatus rides alongside. Each reporter (`StatusSource`) has its own
transitions; everything else is refused (and audited by the track stage):

- delivery: a connector's send result. `draft` → `requested` (sent) or `failed`; a failed
  send that later succeeds (a replayed dead letter) → `requested`. A late `requested`
  never moves a referral back from what the provider already said.
- provider: the recipient's answer. `requested` → accepted | rejected | in-progress |
  completed | on-hold; then forward only (accepted → in-progress → completed, on-hold
  and back).
- consent-gate: a consent revoked or expired → `cancelled`, from any open state.
- track: a deadline missed → `cancelled` (the referral is then escalated), from
  `requested` or `accepted`.
- admin: `entered-in-error`, from any state.

A report of the state a referral is already in is a repeat, not a transition: accepted,
changes nothing. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.vocab import ReferralState as S
from pipeline.vocab import StatusSource

OPEN = frozenset({S.DRAFT, S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD})
FINAL = frozenset({S.REJECTED, S.COMPLETED, S.CANCELLED, S.ENTERED_IN_ERROR})
CLOSED = FINAL | {S.FAILED}  # no deadline runs: `failed` waits for a replay, not for the provider

_NEW = None  # a referral track has not seen yet

TRANSITIONS: dict[StatusSource, dict[S | None, frozenset[S]]] = {
    StatusSource.DELIVERY: {
        _NEW: frozenset({S.REQUESTED, S.FAILED}),
        S.DRAFT: frozenset({S.REQUESTED, S.FAILED}),
        S.FAILED: frozenset({S.REQUESTED}),
    },
    StatusSource.PROVIDER: {
        S.REQUESTED: frozenset({S.ACCEPTED, S.REJECTED, S.IN_PROGRESS, S.COMPLETED, S.ON_HOLD}),
        S.ACCEPTED: frozenset({S.IN_PROGRESS, S.COMPLETED, S.ON_HOLD}),
        S.IN_PROGRESS: frozenset({S.COMPLETED, S.ON_HOLD}),
        S.ON_HOLD: frozenset({S.IN_PROGRESS, S.COMPLETED}),
    },
    StatusSource.CONSENT_GATE: {state: frozenset({S.CANCELLED}) for state in (_NEW, *OPEN)},
    StatusSource.TRACK: {S.REQUESTED: frozenset({S.CANCELLED}), S.ACCEPTED: frozenset({S.CANCELLED})},
    StatusSource.ADMIN: {state: frozenset({S.ENTERED_IN_ERROR}) for state in (_NEW, *S)},
}

# BSeR / Gravity businessStatus for a state, where the reporter gave none.
BUSINESS_STATUS: dict[S, str] = {
    S.DRAFT: "1.0", S.REQUESTED: "2.0", S.ACCEPTED: "3.0", S.IN_PROGRESS: "4.0", S.COMPLETED: "5.0",
    S.CANCELLED: "6.0", S.REJECTED: "7.0", S.ON_HOLD: "4.1", S.FAILED: "8.0", S.ENTERED_IN_ERROR: "9.0",
}

# Transitions that mean "ask someone else": the referral's recipient is excluded and the
# request goes back through route and decide.
ESCALATING: frozenset[tuple[StatusSource, S]] = frozenset({(StatusSource.PROVIDER, S.REJECTED),
                                                            (StatusSource.TRACK, S.CANCELLED)})


@dataclass(frozen=True)
class Verdict:
    """What the machine says about one report."""

    before: S | None
    after: S | None  # the state afterwards (unchanged when refused or a repeat)
    applied: bool  # the state changed
    refused: str = ""  # why a report was not applied ("" when applied or a repeat)
    escalate: bool = False  # ask the next recipient

    @property
    def repeat(self) -> bool:
        return not self.applied and not self.refused


def check(current: S | None, reported: S, source: StatusSource) -> Verdict:
    """The verdict on a report of `reported` by `source` for a referral now in `current`."""
    if current == reported:
        return Verdict(current, current, applied=False)
    allowed = TRANSITIONS.get(source, {}).get(current, frozenset())
    if reported not in allowed:
        was = current.value if current else "unknown"
        why = f"{source.value} may not move a referral from {was} to {reported.value}"
        if current in FINAL:
            why += f" ({was} is final)"
        return Verdict(current, current, applied=False, refused=why)
    return Verdict(current, reported, applied=True, escalate=(source, reported) in ESCALATING)
