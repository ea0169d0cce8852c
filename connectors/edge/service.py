"""Wiring of the edges from settings: the `Edge`, the HTTP server, the MLLP listener.

Used by the CLI (`handoff serve intake|mllp`), the integration tests and bench/mllp.py, so
all three run the same code; only the sink, the clock and the ports differ.
"""
from __future__ import annotations

import ssl

import uvicorn
from prometheus_client import CollectorRegistry

from connectors.edge.auth import Credentials
from connectors.edge.commit import Edge, EdgeMetrics
from connectors.edge.intake import Intake
from connectors.edge.mllp import MllpListener
from connectors.edge.tls import ClientCertH11Protocol, server_context
from pipeline.clock import Clock, SystemClock
from pipeline.settings import Settings
from pipeline.stage import Sink, Writer
from pipeline.topics import Catalogue


def build_edge(settings: Settings, sink: Sink, catalogue: Catalogue | None = None, clock: Clock | None = None,
               registry: CollectorRegistry | None = None, name: str = "edge") -> Edge:
    catalogue = catalogue or Catalogue.from_settings(settings)
    return Edge(writer=Writer(catalogue, sink, name), credentials=Credentials(settings.edges.agencies),
                clock=clock or SystemClock(), metrics=EdgeMetrics(registry), programme_id=settings.programme_id,
                dispatch_centre_for=settings.dispatch_centre_for, commit_timeout=settings.edges.commit_timeout,
                xsd_path=settings.ingest.nemsis_xsd)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    e = settings.edges
    if e.tls_cert is None or e.tls_key is None:
        return None
    return server_context(e.tls_cert, e.tls_key, e.client_ca)


def http_server(settings: Settings, edge: Edge, registry=None) -> uvicorn.Server:
    """A uvicorn server for the intake app; `serve(sockets=[sock])` binds it to a socket of the caller's.
    With a consent `registry` (pipeline.consent.Registry), /v1/consents is mounted too."""
    e = settings.edges
    intake = Intake(edge, e.max_body_bytes)
    if registry is not None:
        from pipeline.consent.http import ConsentService

        intake.consents = ConsentService(registry, intake.consent_actor, publish=edge.writer, clock=edge.clock)
    app = intake.app()
    options: dict = dict(host=e.host, port=e.http_port, http=ClientCertH11Protocol, lifespan="off",
                         log_level="warning", access_log=False, server_header=False)
    if e.tls_cert is not None and e.tls_key is not None:
        options |= dict(ssl_certfile=str(e.tls_cert), ssl_keyfile=str(e.tls_key))
        if e.client_ca is not None:
            options |= dict(ssl_ca_certs=str(e.client_ca), ssl_cert_reqs=ssl.CERT_OPTIONAL)
    return uvicorn.Server(uvicorn.Config(app, **options))


def mllp_listener(settings: Settings, edge: Edge) -> MllpListener:
    e = settings.edges
    return MllpListener(edge, tls_context(settings), max_bytes=e.mllp_max_message_bytes,
                        frame_timeout=e.mllp_frame_timeout, idle_timeout=e.mllp_idle_timeout)
