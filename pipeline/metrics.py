"""Per-stage counters and timings, in a registry that is passed down (no module singletons).

Served as Prometheus text on /metrics next to /healthz and /readyz (pipeline/health.py).
"""
from __future__ import annotations

from typing import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipeline.health import Probe, gauge_probe, serve_health


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

    def value(self, counter: Counter, stage: str) -> float:
        return counter.labels(stage)._value.get()

    def serve(self, host: str, port: int, probes: Sequence[Probe] = ()):
        """Serve /metrics, /healthz and /readyz in a thread; returns (server, thread). /readyz runs
        `probes` and fails while the stages report a dependency away (handoff_dependency_ready 0)."""
        return serve_health(host, port, self.registry, [*probes, gauge_probe(self.registry)])
