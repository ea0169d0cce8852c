"""/healthz, /readyz and /metrics on a real loopback HTTP server; the probes against real peers."""
from __future__ import annotations

import socket
import socketserver
import struct
import threading

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pipeline.health import Probe, broker_probe, database_probe, directory_probe, serve_health
from pipeline.metrics import Metrics
from pipeline.route.directory import SAMPLE_DIRECTORY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served():
    servers = []

    def serve(registry, probes):
        port = _free_port()
        server, _ = serve_health("127.0.0.1", port, registry, probes)
        servers.append(server)
        return f"http://127.0.0.1:{port}"
    yield serve
    for server in servers:
        server.shutdown()


def test_healthz_answers_and_readyz_names_the_failing_probe(served):
    state = {"db": True}

    def db() -> bool:
        return state["db"]
    base = served(CollectorRegistry(), [Probe("database", db), Probe("broker", lambda: None)])
    assert httpx.get(f"{base}/healthz").text == "ok\n"
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.text == "database ok\nbroker ok\n"
    state["db"] = False
    down = httpx.get(f"{base}/readyz")
    assert down.status_code == 503 and "database FAIL" in down.text and "broker ok" in down.text
    assert httpx.get(f"{base}/healthz").status_code == 200  # alive, not ready
    assert httpx.get(f"{base}/anything").status_code == 404


def test_metrics_readyz_adds_probes_to_the_reported_dependencies():
    metrics, state = Metrics(), {"directory": True}
    port = _free_port()
    server, _ = metrics.serve("127.0.0.1", port, requires=("broker",),
                              probes=[Probe("directory", lambda: state["directory"])])
    try:
        base = f"http://127.0.0.1:{port}"
        metrics.consumed.labels("detect").inc()
        assert "handoff_stage_consumed_total{stage=\"detect\"} 1.0" in httpx.get(f"{base}/metrics").text
        metrics.ready.labels("broker").set(1)
        assert httpx.get(f"{base}/readyz").text == "dependencies ok\ndirectory ok\n"
        metrics.ready.labels("database").set(0)  # not required, but reported away
        answer = httpx.get(f"{base}/readyz")
        assert answer.status_code == 503 and answer.text.startswith("dependencies FAIL ConnectionError: waiting "
                                                                    "for database")
        metrics.ready.labels("database").set(1)
        state["directory"] = False
        answer = httpx.get(f"{base}/readyz")
        assert answer.status_code == 503 and answer.text == "dependencies ok\ndirectory FAIL not ready\n"
    finally:
        server.shutdown()


def test_broker_probe_fails_on_a_closed_port_and_on_a_peer_that_is_not_kafka():
    with pytest.raises(ConnectionError, match="ConnectionRefusedError"):
        broker_probe(f"127.0.0.1:{_free_port()}").check()

    class Garbage(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(64)
            self.request.sendall(struct.pack(">i", 10) + struct.pack(">ihi", 99, 35, 0))
    with socketserver.TCPServer(("127.0.0.1", 0), Garbage) as peer:
        threading.Thread(target=peer.handle_request, daemon=True).start()
        with pytest.raises(ConnectionError, match="unexpected ApiVersions"):
            broker_probe(f"127.0.0.1:{peer.server_address[1]}").check()


def test_database_and_directory_probes(tmp_path):
    database_probe(f"sqlite:///{tmp_path / 'ok.db'}").check()
    with pytest.raises(Exception):
        database_probe(f"sqlite:///{tmp_path}").check()  # a directory, not a database
    assert directory_probe(str(SAMPLE_DIRECTORY)).check()
    with pytest.raises(Exception):
        directory_probe(str(tmp_path / "no-directory.json")).check()
