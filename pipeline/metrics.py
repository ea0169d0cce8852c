"""Per-stage counters and timings, in a registry that is passed down (no module singletons).

Besides the stages' own: `handoff_delivery_latency_seconds{connector}` (ingest → the recipient's
acknowledgement) and `handoff_delivery_failures_total{connector,outcome}`, counted by the deliver
stage (pipeline/app.py `deliver`).

Served on /metrics beside /healthz (the process answers) and /readyz (every dependency it needs
reports ready in `handoff_dependency_ready`, and every probe passes): pipeline/health.py.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipeline.health import Probe, gauge_probe, serve_health


# ingest → delivery: seconds when all is well, hours while a recipient is away (retry topics: 1m, 10m, 1h)
LATENCY_BUCKETS = (.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["stage"]
        self.consumed = Counter("handoff_stage_consumed", "Messages consumed", labels, registry=self.registry)
        self.produced = Counter("handoff_stage_produced", "Output records produced", labels, registry=self.registry)
        self.audited = Counter("handoff_stage_audited", "Audit records written", labels, registry=self.registry)
        self.held = Counter("handoff_stage_held", "Requests held for want of a legal basis", labels,
                            registry=self.registry)
        self.dead_lettered = Counter("handoff_stage_dead_lettered", "Messages dead-lettered", labels,
                                     registry=self.registry)
        self.retries = Counter("handoff_stage_retries", "Transient failures retried in place", labels,
                               registry=self.registry)
        self.waiting = Gauge("handoff_stage_waiting", "1 while the stage waits for a dependency that is away",
                             labels, registry=self.registry)
        self.ready = Gauge("handoff_dependency_ready", "0 while a dependency (broker, database) is away, else 1",
                           ["dependency"], registry=self.registry)
        self.seconds = Histogram("handoff_stage_seconds", "Time to process one message", labels,
                                 registry=self.registry,
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5))
        self.delivery_latency = Histogram(
            "handoff_delivery_latency_seconds", "From the envelope's ingested_at to the recipient's acknowledgement",
            ["connector"], registry=self.registry, buckets=LATENCY_BUCKETS)
        self.delivery_failures = Counter(
            "handoff_delivery_failures", "Failed sends by connector: retry (transient), ambiguous, failed (final)",
            ["connector", "outcome"], registry=self.registry)
        # dispatch-time alerts (issue 20, pipeline/alerts.py): outcome sent | updated | withdrawn | failed
        self.alerts = Counter("handoff_alerts", "Dispatch alerts by outcome", ["outcome"], registry=self.registry)
        self.alert_seconds = Histogram("handoff_alert_seconds", "From the incident's intake to its alert's answer",
                                       registry=self.registry, buckets=(.1, .25, .5, 1, 2, 5, 10, 30, 60, 300))

    def value(self, counter: Counter, stage: str) -> float:
        return counter.labels(stage)._value.get()

    def serve(self, host: str, port: int, requires: Iterable[str] = ("broker", "database"),
              probes: Sequence[Probe] = ()):
        """Serve /metrics, /healthz and /readyz in a thread; returns (server, thread). /readyz fails
        until every dependency in `requires` is reported ready (handoff_dependency_ready 1), and
        while any of `probes` fails."""
        # the gauge alone: a scrape's collectors (the referral counts read the database) never hold up /readyz
        return serve_health(host, port, self.registry, [gauge_probe(self.ready, requires), *probes])
