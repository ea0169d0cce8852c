"""Per-stage counters and timings, in a registry that is passed down (no module singletons).

Served by `serve_http` with the probes the deployments use (deploy/): /metrics
(Prometheus text), /healthz (the process answers) and /readyz (every dependency it
needs reports ready in `handoff_dependency_ready`).
"""
from __future__ import annotations

import threading
from typing import Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer


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

    def serve(self, host: str, port: int, requires: Iterable[str] = ("broker", "database")):
        """Start /metrics, /healthz and /readyz in a thread; returns (server, thread)."""
        return serve_http(host, port, self.registry, requires)


def waiting_for(registry: CollectorRegistry, requires: Iterable[str]) -> list[str]:
    """The required dependencies not reported ready (never reported counts as not ready)."""
    return [name for name in requires
            if registry.get_sample_value("handoff_dependency_ready", {"dependency": name}) != 1]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: no access log
        pass


def serve_http(host: str, port: int, registry: CollectorRegistry, requires: Iterable[str] = ()):
    """/metrics (and any other path, as prometheus_client does), /healthz: 200 while the
    process answers, /readyz: 200 once every dependency in `requires` is ready, else 503
    naming what it waits for. Returns (server, thread); `server.shutdown()` stops it."""
    requires = tuple(requires)
    metrics_app = make_wsgi_app(registry)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":
            waiting = waiting_for(registry, requires)
            status = "503 Service Unavailable" if waiting else "200 OK"
            start_response(status, [("Content-Type", "text/plain")])
            return [(f"waiting for {', '.join(waiting)}\n" if waiting else "ready\n").encode()]
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"metrics:{port}", daemon=True)
    thread.start()
    return server, thread
