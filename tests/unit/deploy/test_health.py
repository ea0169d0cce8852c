"""The probes the deployments use (deploy/compose, deploy/k8s): /healthz, /readyz, /metrics."""
from __future__ import annotations

import httpx

from pipeline.kafka.broker import free_port
from pipeline.metrics import Metrics


def test_readyz_waits_for_every_required_dependency_and_healthz_only_for_the_process():
    metrics = Metrics()
    port = free_port()
    server, _ = metrics.serve("127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/healthz").status_code == 200
        before = httpx.get(f"{base}/readyz")
        assert before.status_code == 503 and before.text.strip().endswith("waiting for broker, database")
        metrics.ready.labels("broker").set(1)
        assert httpx.get(f"{base}/readyz").text.strip().endswith("waiting for database")
        metrics.ready.labels("database").set(1)
        assert httpx.get(f"{base}/readyz").status_code == 200
        metrics.ready.labels("broker").set(0)  # the broker went away: not ready again, still alive
        assert httpx.get(f"{base}/readyz").status_code == 503 and httpx.get(f"{base}/healthz").status_code == 200
        assert 'handoff_dependency_ready{dependency="broker"} 0.0' in httpx.get(f"{base}/metrics").text
    finally:
        server.shutdown()
