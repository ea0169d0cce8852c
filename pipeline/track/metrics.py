"""The closed loop's metrics, read from the database on each scrape (counts only, no person data):

- handoff_referrals{state}: referrals by current state
- handoff_referrals_overdue: open deadlines past due
- handoff_referral_reports_parked, handoff_referral_reports_parked_oldest_seconds: provider
  answers waiting for their referral's send status (refused after `track.parked_hours`)
- handoff_referral_escalations{status}: escalated / exhausted (no one left to ask)
- handoff_referral_time_to_accept_seconds, handoff_referral_time_to_contact_seconds:
  histograms from the status history (requested → accepted; requested → in-progress/completed)
"""
from __future__ import annotations

import logging
from bisect import bisect_left
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from pipeline.clock import Clock
from pipeline.storage import Store, StorageError
from pipeline.vocab import ReferralState

log = logging.getLogger(__name__)
BUCKETS = (3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0, 48 * 3600.0, 72 * 3600.0, 7 * 86400.0)


class ReferralCollector:
    """A Prometheus collector over the track tables (register it on the service's registry)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def collect(self):
        try:
            states, overdue, escalations, accept, contact, parked = self._read()
        except StorageError as e:  # the scrape goes on without these; readiness reports the database
            log.warning("referral metrics unavailable: %s", type(e).__name__)
            return
        by_state = GaugeMetricFamily("handoff_referrals", "Referrals by current state", labels=["state"])
        for state in ReferralState:
            by_state.add_metric([state.value], states.get(state.value, 0))
        yield by_state
        yield GaugeMetricFamily("handoff_referrals_overdue", "Open referral deadlines past due", value=overdue)
        yield GaugeMetricFamily("handoff_referral_reports_parked", "Provider answers waiting for their referral's"
                                " send status", value=parked["n"])
        oldest = (self.clock.now() - datetime.fromisoformat(parked["oldest"])).total_seconds() if parked["n"] else 0
        yield GaugeMetricFamily("handoff_referral_reports_parked_oldest_seconds", "Age of the oldest parked provider"
                                " answer (0: none)", value=oldest)
        esc = GaugeMetricFamily("handoff_referral_escalations", "Escalated requests by status", labels=["status"])
        for status in ("escalated", "exhausted"):
            esc.add_metric([status], escalations.get(status, 0))
        yield esc
        yield _histogram("handoff_referral_time_to_accept_seconds", "From sent to accepted", accept)
        yield _histogram("handoff_referral_time_to_contact_seconds", "From sent to first contact", contact)

    def _read(self):
        now = self.clock.now().isoformat()
        with self.store.transaction() as tx:
            states = {row["state"]: row["n"] for row in
                      tx.fetchall("SELECT state, COUNT(*) AS n FROM referral_state GROUP BY state")}
            overdue = tx.fetchone("SELECT COUNT(*) AS n FROM referral_deadline WHERE status = 'open'"
                                  " AND due_at <= :now", {"now": now})["n"]
            parked = tx.fetchone("SELECT COUNT(*) AS n, MIN(parked_at) AS oldest FROM referral_status_parked")
            escalations = {row["status"]: row["n"] for row in
                           tx.fetchall("SELECT status, COUNT(*) AS n FROM referral_escalation GROUP BY status")}
            rows = tx.fetchall(
                "SELECT referral_id, to_state, MIN(occurred_at) AS at FROM referral_status_history"
                " WHERE outcome = 'applied' AND to_state IN ('requested', 'accepted', 'in-progress', 'completed')"
                " GROUP BY referral_id, to_state")
        firsts: dict[str, dict[str, datetime]] = {}
        for row in rows:
            firsts.setdefault(row["referral_id"], {})[row["to_state"]] = datetime.fromisoformat(row["at"])
        accept, contact = [], []
        for seen in firsts.values():
            sent = seen.get("requested")
            if sent is None:
                continue
            if "accepted" in seen:
                accept.append((seen["accepted"] - sent).total_seconds())
            reached = [seen[s] for s in ("in-progress", "completed") if s in seen]
            if reached:
                contact.append((min(reached) - sent).total_seconds())
        return states, overdue, escalations, accept, contact, parked


def _histogram(name: str, doc: str, values: list[float]) -> HistogramMetricFamily:
    ordered = sorted(values)
    buckets = [(str(b), bisect_left(ordered, b + 1e-9)) for b in BUCKETS] + [("+Inf", len(ordered))]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum(ordered))
