"""The referral state machine, as a table: each reporter's transitions, and what is refused."""
from __future__ import annotations

import pytest

from pipeline.track.machine import ESCALATING, FINAL, TRANSITIONS, check
from pipeline.vocab import ReferralState as S
from pipeline.vocab import StatusSource as Src

CASES = [  # (current, reported, source, applied, refused, escalate)
    (None, S.REQUESTED, Src.DELIVERY, True, False, False),
    (None, S.FAILED, Src.DELIVERY, True, False, False),
    (S.FAILED, S.REQUESTED, Src.DELIVERY, True, False, False),  # a replayed dead letter went through
    (S.REQUESTED, S.ACCEPTED, Src.PROVIDER, True, False, False),
    (S.REQUESTED, S.REJECTED, Src.PROVIDER, True, False, True),  # a decline asks the next one
    (S.ACCEPTED, S.IN_PROGRESS, Src.PROVIDER, True, False, False),
    (S.IN_PROGRESS, S.COMPLETED, Src.PROVIDER, True, False, False),
    (S.ON_HOLD, S.IN_PROGRESS, Src.PROVIDER, True, False, False),
    (S.ACCEPTED, S.CANCELLED, Src.CONSENT_GATE, True, False, False),  # a revocation
    (None, S.CANCELLED, Src.CONSENT_GATE, True, False, False),  # a hold cancelled before any send
    (S.REQUESTED, S.CANCELLED, Src.TRACK, True, False, True),  # silent past its deadline
    (S.COMPLETED, S.ENTERED_IN_ERROR, Src.ADMIN, True, False, False),
    (S.ACCEPTED, S.REQUESTED, Src.DELIVERY, False, True, False),  # a late `requested` does not go back
    (S.ACCEPTED, S.ACCEPTED, Src.PROVIDER, False, False, False),  # a repeat
    (S.REQUESTED, S.REQUESTED, Src.DELIVERY, False, False, False),  # a resend
    (S.REQUESTED, S.ACCEPTED, Src.DELIVERY, False, True, False),  # only the provider accepts
    (None, S.ACCEPTED, Src.PROVIDER, False, True, False),  # not sent: nothing to accept
    (S.COMPLETED, S.IN_PROGRESS, Src.PROVIDER, False, True, False),  # completed is final
    (S.REJECTED, S.ACCEPTED, Src.PROVIDER, False, True, False),
    (S.CANCELLED, S.REQUESTED, Src.DELIVERY, False, True, False),
    (S.IN_PROGRESS, S.CANCELLED, Src.TRACK, False, True, False),  # contact made: no escalation
    (S.REQUESTED, S.CANCELLED, Src.PROVIDER, False, True, False),
]


@pytest.mark.parametrize("current,reported,source,applied,refused,escalate", CASES)
def test_transition(current, reported, source, applied, refused, escalate):
    verdict = check(current, reported, source)
    assert verdict.applied is applied
    assert bool(verdict.refused) is refused
    assert verdict.escalate is escalate
    assert verdict.after == (reported if applied else current)
    if refused:
        assert source.value in verdict.refused and reported.value in verdict.refused


def test_nothing_leaves_a_final_state_but_entered_in_error():
    for source, table in TRANSITIONS.items():
        for state in FINAL:
            allowed = table.get(state, frozenset())
            assert allowed <= {S.ENTERED_IN_ERROR}, (source, state, allowed)


def test_escalating_transitions_are_transitions():
    for source, state in ESCALATING:
        assert any(state in targets for targets in TRANSITIONS[source].values())
