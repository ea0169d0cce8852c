"""`handoff serve intake` (HTTP) and `handoff serve mllp` (HL7 v2 over MLLP/TLS): the network edges.

Both need a broker (HANDOFF_KAFKA__BOOTSTRAP) and at least one agency in
HANDOFF_EDGES__AGENCIES (JSON: {"ems-012": {"kind": "ems", "api_key_sha256": ["..."],
"cert_subjects": ["ems-012"]}}). The MLLP listener needs TLS (HANDOFF_EDGES__TLS_CERT,
__TLS_KEY, __CLIENT_CA): its senders are known by their client certificates.
Development certificates: `.venv/bin/python scripts/dev_certs.py` (writes .run/certs).
"""
from __future__ import annotations

import asyncio

import typer

cli = typer.Typer(help="The network edges: HTTP intake and the MLLP listener.", no_args_is_help=True)


def _prepare(need_tls: bool):
    from handoff.errors import EXIT_CONFIG, CliError
    from pipeline.settings import Settings

    settings = Settings()
    if not settings.kafka.bootstrap:
        raise CliError("no broker: set HANDOFF_KAFKA__BOOTSTRAP (`handoff run` starts the embedded one)", EXIT_CONFIG)
    if not settings.edges.agencies:
        raise CliError("no sending agency is configured (HANDOFF_EDGES__AGENCIES): nobody could send", EXIT_CONFIG)
    if need_tls and not (settings.edges.tls_cert and settings.edges.tls_key and settings.edges.client_ca):
        raise CliError("the MLLP listener needs HANDOFF_EDGES__TLS_CERT, __TLS_KEY and __CLIENT_CA", EXIT_CONFIG)
    return settings


def _run(coro) -> None:
    from handoff.errors import EXIT_UNAVAILABLE, CliError

    try:
        asyncio.run(coro)
    except OSError as e:
        raise CliError(f"cannot reach the broker or bind the port: {e}", EXIT_UNAVAILABLE) from None


async def _serve(settings, name: str, metrics_port: int, body) -> None:
    """Start the producer and the edge, serve /metrics, /healthz and /readyz, then run `body(edge)` until stopped."""
    from connectors.edge.service import build_edge
    from pipeline.health import serve_health
    from pipeline.readiness import service_probes
    from pipeline.kafka.producer import ProducerSink
    from pipeline.kafka.secure import client_options

    async with ProducerSink(settings.kafka.bootstrap, **client_options(settings.kafka)) as sink:
        edge = build_edge(settings, sink, name=f"edge {name}")
        # ready once the producer is up and while the broker, the database and the directory answer
        server, _ = serve_health(settings.edges.host, metrics_port, edge.metrics.registry, service_probes(settings))
        try:
            await body(edge)
        finally:
            server.shutdown()


@cli.command("intake")
def intake() -> None:
    """HTTP intake: NEMSIS, EIDO, CAD exports and field referrals (see connectors/edge/intake.py)."""
    settings = _prepare(need_tls=False)

    async def body(edge):
        from connectors.edge.service import http_server
        from pipeline.consent import Registry
        from pipeline.storage import open_store

        store = open_store(settings.storage.url)
        store.migrate()
        typer.echo(f"intake on {settings.edges.host}:{settings.edges.http_port}", err=True)
        try:
            await http_server(settings, edge, Registry(store)).serve()
        finally:
            store.close()

    _run(_serve(settings, "http", settings.edges.http_metrics_port, body))


@cli.command("mllp")
def mllp() -> None:
    """MLLP listener over TLS: HL7 v2 ORU^R01 / ADT^A04/A08, ACK after commit."""
    settings = _prepare(need_tls=True)

    async def body(edge):
        from connectors.edge.service import mllp_listener

        listener = mllp_listener(settings, edge)
        host, port = await listener.start(settings.edges.host, settings.edges.mllp_port)
        typer.echo(f"mllp on {host}:{port}", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await listener.close()

    _run(_serve(settings, "mllp", settings.edges.mllp_metrics_port, body))


@cli.command("replies")
def replies() -> None:
    """MLLP listener for providers' answers over TLS: RRI^I12/I13/I14 → referral.status, ACK after commit."""
    settings = _prepare(need_tls=True)

    async def body(edge):
        from connectors.edge.replies import ReplyListener
        from connectors.edge.service import tls_context

        e = settings.edges
        listener = ReplyListener(edge, tls_context(settings), max_bytes=e.mllp_max_message_bytes,
                                 frame_timeout=e.mllp_frame_timeout, idle_timeout=e.mllp_idle_timeout)
        host, port = await listener.start(e.host, e.replies_port)
        typer.echo(f"replies on {host}:{port}", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await listener.close()

    _run(_serve(settings, "replies", settings.edges.replies_metrics_port, body))


@cli.command("web")
def web() -> None:
    """The web service: sign-in, the provider inbox, the privacy officer's page (connectors/web)."""
    from handoff.errors import EXIT_CONFIG, CliError
    from pipeline.settings import Settings

    settings = Settings()
    if not settings.kafka.bootstrap:
        raise CliError("no broker: set HANDOFF_KAFKA__BOOTSTRAP (every view and answer is audited through it)",
                       EXIT_CONFIG)
    w = settings.web
    tls = bool(w.tls_cert and w.tls_key)
    if bool(w.tls_cert) != bool(w.tls_key):
        raise CliError("give both HANDOFF_WEB__TLS_CERT and HANDOFF_WEB__TLS_KEY, or neither", EXIT_CONFIG)
    if settings.environment == "production" and not tls:
        raise CliError("production needs TLS: set HANDOFF_WEB__TLS_CERT and __TLS_KEY", EXIT_CONFIG)
    from connectors.web.serve import serve

    typer.echo(f"web on {'https' if tls else 'http'}://{w.host}:{w.port}", err=True)
    _run(serve(settings))
