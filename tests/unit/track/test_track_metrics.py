"""The closed loop's metrics come from the track tables: states, overdue, times to accept and contact."""
from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest

from pipeline.clock import FixedClock
from pipeline.track import apply_status
from pipeline.track.deadlines import load_deadlines
from pipeline.track.metrics import ReferralCollector
from pipeline.vocab import ReferralState as S
from pipeline.vocab import StatusSource as Src
from tests.unit.track.test_track_store import T0, request, save_request, status


def test_counts_overdue_and_times(migrated):
    save_request(migrated, request())
    deadlines = load_deadlines()
    apply_status(migrated, status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1"),
                 deadlines, T0)
    apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0 + timedelta(hours=3)), deadlines, T0)
    apply_status(migrated, status(S.IN_PROGRESS, Src.PROVIDER, T0 + timedelta(hours=30)), deadlines, T0)
    registry = CollectorRegistry()
    clock = FixedClock(T0 + timedelta(days=30))
    registry.register(ReferralCollector(migrated, clock))
    text = generate_latest(registry).decode()
    assert 'handoff_referrals{state="in-progress"} 1.0' in text
    assert 'handoff_referrals{state="requested"} 0.0' in text
    assert "handoff_referrals_overdue 0.0" in text  # first contact was in time: nothing open
    assert 'handoff_referral_time_to_accept_seconds_bucket{le="14400.0"} 1.0' in text  # 3 h ≤ 4 h
    assert 'handoff_referral_time_to_accept_seconds_bucket{le="3600.0"} 0.0' in text
    assert "handoff_referral_time_to_accept_seconds_sum 10800.0" in text
    assert 'handoff_referral_time_to_contact_seconds_bucket{le="172800.0"} 1.0' in text  # 30 h ≤ 48 h
    assert 'handoff_referral_time_to_contact_seconds_bucket{le="86400.0"} 0.0' in text
    for word in ("tok-1", "clinic-a", "req-1"):  # counts only: no person, recipient or request
        assert word not in text


def test_an_unanswered_referral_is_overdue(migrated):
    save_request(migrated, request())
    apply_status(migrated, status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1"),
                 load_deadlines(), T0)
    registry = CollectorRegistry()
    registry.register(ReferralCollector(migrated, FixedClock(T0 + timedelta(hours=25))))
    assert "handoff_referrals_overdue 1.0" in generate_latest(registry).decode()


def test_parked_answers_are_counted_with_the_oldest_age(migrated):
    registry = CollectorRegistry()
    registry.register(ReferralCollector(migrated, FixedClock(T0 + timedelta(hours=5))))
    text = generate_latest(registry).decode()
    assert "handoff_referral_reports_parked 0.0" in text and "handoff_referral_reports_parked_oldest_seconds 0.0" in text
    apply_status(migrated, status(S.ACCEPTED, Src.PROVIDER, T0, n=1), load_deadlines(), T0)  # before its send status
    apply_status(migrated, status(S.REJECTED, Src.PROVIDER, T0, n=2), load_deadlines(), T0 + timedelta(hours=2))
    text = generate_latest(registry).decode()
    assert "handoff_referral_reports_parked 2.0" in text
    assert "handoff_referral_reports_parked_oldest_seconds 18000.0" in text  # parked at T0, read at T0 + 5 h
