"""`handoff monitor`: the monitoring exporter (lag, ages and counts for Prometheus) and a one-shot view."""
from __future__ import annotations

import typer

cli = typer.Typer(help="Monitoring: consumer lag, oldest hold, unsealed audit, referral counts.",
                  no_args_is_help=True)


def _collector(bootstrap: str):
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.monitor import MonitorCollector
    from pipeline.settings import Settings
    from pipeline.storage import StorageError, open_store

    settings = Settings()
    try:
        store = open_store(settings.storage.url)
    except StorageError as e:
        raise CliError(f"cannot open the database: {e}", EXIT_UNAVAILABLE) from None
    return settings, MonitorCollector(bootstrap or settings.kafka.bootstrap, settings.kafka.topic_prefix, store)


@cli.command()
def serve(port: int = typer.Option(9467, help="port of /metrics, /healthz, /readyz"),
          host: str = typer.Option("", help="address to listen on; default HANDOFF_METRICS__HOST"),
          bootstrap: str = typer.Option("", help="host:port; default HANDOFF_KAFKA__BOOTSTRAP")) -> None:
    """Serve the monitor's gauges (computed at each scrape) with /healthz and /readyz until stopped."""
    import threading

    from prometheus_client import CollectorRegistry

    from pipeline.health import serve_health
    from pipeline.readiness import service_probes

    settings, collector = _collector(bootstrap)
    host = host or settings.metrics.host
    registry = CollectorRegistry()
    registry.register(collector)
    server, _ = serve_health(host, port, registry, service_probes(settings))
    typer.echo(f"monitor on http://{host}:{port}/metrics", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@cli.command()
def show(bootstrap: str = typer.Option("", help="host:port; default HANDOFF_KAFKA__BOOTSTRAP")) -> None:
    """Print the monitor's gauges once (Prometheus text)."""
    from prometheus_client import CollectorRegistry, generate_latest

    _, collector = _collector(bootstrap)
    registry = CollectorRegistry()
    registry.register(collector)
    typer.echo(generate_latest(registry).decode().rstrip())
