"""Liveness and readiness: `/healthz` (the process answers) and `/readyz` (its dependencies answer).

Every service serves the same three paths on its metrics port (`serve_health`):

    /metrics   Prometheus text of the service's registry
    /healthz   200 "ok" while the process serves at all
    /readyz    200 when every probe passes, else 503; the body names each probe and why it failed

A probe is a name and a function that raises (or returns False) when the dependency is away.
The probes here look at the real thing: the broker answers a Kafka ApiVersions request, the
database opens and answers `SELECT 1`, the provider directory loads. Nothing in a probe's
answer carries person data: only dependency names, hosts and exception types.
"""
from __future__ import annotations

import socket
import ssl
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass(frozen=True)
class Probe:
    name: str
    check: Callable[[], object]   # raises or returns False when the dependency is away


def run_probes(probes: Sequence[Probe]) -> tuple[bool, list[str]]:
    """Run every probe; (all passed, one line per probe)."""
    lines, ready = [], True
    for probe in probes:
        try:
            ok = probe.check() is not False
            why = "" if ok else "not ready"
        except Exception as e:  # a probe's failure is an answer, not a crash
            ok, why = False, f"{type(e).__name__}: {e}"[:200]
        ready &= ok
        lines.append(f"{probe.name} {'ok' if ok else 'FAIL ' + why}")
    return ready, lines


def broker_probe(bootstrap: str, timeout: float = 2.0, tls: ssl.SSLContext | None = None) -> Probe:
    """The first reachable bootstrap server answers a Kafka ApiVersions (v0) request (over TLS when
    the cluster's listener is SSL or SASL_SSL; ApiVersions needs no SASL authentication)."""
    def check() -> None:
        errors = []
        for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
            host, _, port = server.rpartition(":")
            try:
                kafka_api_versions(host or "localhost", int(port), timeout, tls)
                return
            except OSError as e:
                errors.append(f"{server}: {type(e).__name__} {e}".strip())
        raise ConnectionError("; ".join(errors) or "no bootstrap server configured")
    return Probe("broker", check)


def kafka_api_versions(host: str, port: int, timeout: float = 2.0, tls: ssl.SSLContext | None = None) -> int:
    """Send ApiVersions v0 and return the number of APIs the broker lists (raises OSError when away)."""
    client = b"handoff-readyz"
    header = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            (tls.wrap_socket(raw, server_hostname=host) if tls else raw) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(header)) + header)
        size = struct.unpack(">i", _read(sock, 4))[0]
        body = _read(sock, size)
    correlation, error, count = struct.unpack(">ihi", body[:10])
    if correlation != 7 or error != 0:
        raise ConnectionError(f"unexpected ApiVersions answer (correlation {correlation}, error {error})")
    return count


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def database_probe(url: str) -> Probe:
    """The database opens and answers a query (a fresh connection, closed again)."""
    def check() -> None:
        from pipeline.storage import open_store

        store = open_store(url)
        try:
            with store.transaction() as tx:
                tx.fetchone("SELECT 1 AS one")
        finally:
            store.close()
    return Probe("database", check)


def directory_probe(location: str) -> Probe:
    """The provider directory (a file or a FHIR server) loads and lists at least one provider."""
    def check() -> bool:
        from pipeline.route.directory import DirectorySource

        return bool(DirectorySource(location=location, ttl=0).current().providers)
    return Probe("directory", check)


def gauge_probe(registry: CollectorRegistry, requires: Iterable[str] = ()) -> Probe:
    """Ready once every dependency in `requires` is reported ready by the service itself
    (`handoff_dependency_ready{dependency} 1`; never reported counts as not ready), and while
    no other dependency is reported away (0)."""
    requires = tuple(requires)

    def check() -> None:
        value = {s.labels.get("dependency", "?"): s.value for family in registry.collect()
                 if family.name == "handoff_dependency_ready" for s in family.samples}
        waiting = [name for name in requires if value.get(name) != 1]
        waiting += sorted(name for name, v in value.items() if v == 0 and name not in requires)
        if waiting:
            raise ConnectionError(f"waiting for {', '.join(waiting)}")
    return Probe("dependencies", check)


def serve_health(host: str, port: int, registry: CollectorRegistry,
                 probes: Sequence[Probe] = ()) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve /metrics, /healthz and /readyz in a daemon thread; returns (server, thread).
    `server.shutdown()` stops it. Any other path is 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b"ok\n")
            elif path == "/readyz":
                ready, lines = run_probes(probes)
                self._answer(200 if ready else 503, ("\n".join(lines or ["no dependencies"]) + "\n").encode())
            else:
                self._answer(404, b"not found: /metrics, /healthz, /readyz\n")

        def _answer(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not log lines
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"health:{port}", daemon=True)
    thread.start()
    return server, thread
