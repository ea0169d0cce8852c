"""The surveillance feed's metrics, read from the database on each scrape (counts only):

- handoff_overdoses_24h{area}: overdoses on the feed in the 24 hours to now, per area
- handoff_overdose_spike{area}: 1 while a spike alert raised in the last 24 hours stands, else 0
- handoff_overdose_spike_unsent: spike alerts the webhook has not yet accepted
"""
from __future__ import annotations

import logging
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily

from pipeline.clock import Clock
from pipeline.storage import StorageError, Store

log = logging.getLogger(__name__)


class SurveillanceCollector:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def collect(self):
        now = self.clock.now()
        since = (now - timedelta(hours=24)).isoformat()
        try:
            with self.store.transaction() as tx:
                counts = {row["area"]: row["n"] for row in tx.fetchall(
                    "SELECT area, COUNT(*) AS n FROM surveillance_overdose WHERE occurred_at > :s"
                    " GROUP BY area", {"s": since})}
                raised = {row["area"] for row in tx.fetchall(
                    "SELECT DISTINCT area FROM surveillance_spike WHERE window_end > :s", {"s": since})}
                unsent = tx.fetchone("SELECT COUNT(*) AS n FROM surveillance_spike WHERE notified_at IS NULL")["n"]
        except StorageError as e:  # the scrape goes on without these; readiness reports the database
            log.warning("surveillance metrics unavailable: %s", type(e).__name__)
            return
        recent = GaugeMetricFamily("handoff_overdoses_24h", "Overdoses on the feed in the last 24 hours",
                                   labels=["area"])
        spike = GaugeMetricFamily("handoff_overdose_spike", "1 while an area's spike alert (last 24 h) stands",
                                  labels=["area"])
        for area in sorted(set(counts) | raised):
            recent.add_metric([area], counts.get(area, 0))
            spike.add_metric([area], 1 if area in raised else 0)
        yield recent
        yield spike
        yield GaugeMetricFamily("handoff_overdose_spike_unsent", "Spike alerts the webhook has not accepted yet",
                                value=unsent)
