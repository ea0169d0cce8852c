"""Create or update: a referral a recipient already holds (a send was recorded) gets an update."""
from __future__ import annotations

from pipeline import records as r
from pipeline.track import apply_status, sent_referrals
from pipeline.vocab import ReferralState, StatusSource
from tests.unit.render import cases as c


def status(referral: str, state: ReferralState, source: StatusSource = StatusSource.DELIVERY) -> r.ReferralStatus:
    return r.ReferralStatus(envelope=c.envelope(f"{referral}-{state.value}"), referral_id=referral, state=state,
                            reported_by="test", source=source)


def test_sent_referrals(migrated):
    now = c.envelope("x").occurred_at
    apply_status(migrated, status("ref-sent", ReferralState.REQUESTED), None, now)
    apply_status(migrated, status("ref-accepted", ReferralState.REQUESTED), None, now)
    apply_status(migrated, status("ref-accepted", ReferralState.ACCEPTED, StatusSource.PROVIDER), None, now)
    apply_status(migrated, status("ref-never-sent", ReferralState.CANCELLED, StatusSource.CONSENT_GATE), None,
                 now)  # a hold cancelled before sending
    asked = ["ref-sent", "ref-accepted", "ref-never-sent", "ref-unknown", "ref-sent"]
    assert sent_referrals(migrated, asked) == {"ref-sent", "ref-accepted"}
    assert sent_referrals(migrated, []) == set()
