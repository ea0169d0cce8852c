"""The readiness probes of a service wired with settings (pipeline/health.py serves them on /readyz)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from pipeline.health import Probe, broker_probe, database_probe, directory_probe, gauge_probe
from pipeline.kafka.secure import ssl_context
from pipeline.settings import Settings


def service_probes(settings: Settings, registry: CollectorRegistry | None = None) -> list[Probe]:
    """The probes of a service wired with `settings`: broker, database, directory (+ the dependencies
    the service reports away in `registry`)."""
    tls = ssl_context(settings.kafka) if "SSL" in settings.kafka.security_protocol else None
    probes = [broker_probe(settings.kafka.bootstrap, tls=tls), database_probe(settings.storage.url),
              directory_probe(settings.routing.directory)]
    return probes + ([gauge_probe(registry)] if registry is not None else [])
