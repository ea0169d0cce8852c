"""Create or update: a referral a recipient already holds (a send was recorded) gets an update."""
from __future__ import annotations

from pipeline import records as r
from pipeline.track import apply_status, sent_referrals
from pipeline.vocab import ReferralState
from tests.unit.render import cases as c


def status(referral: str, state: ReferralState) -> r.ReferralStatus:
    return r.ReferralStatus(envelope=c.envelope(referral), referral_id=referral, state=state, reported_by="test")


def test_sent_referrals(migrated):
    apply_status(migrated, status("ref-sent", ReferralState.REQUESTED))
    apply_status(migrated, status("ref-accepted", ReferralState.ACCEPTED))
    apply_status(migrated, status("ref-never-sent", ReferralState.CANCELLED))  # a hold cancelled before sending
    asked = ["ref-sent", "ref-accepted", "ref-never-sent", "ref-unknown", "ref-sent"]
    assert sent_referrals(migrated, asked) == {"ref-sent", "ref-accepted"}
    assert sent_referrals(migrated, []) == set()
