"""Delivery connectors by endpoint kind, each built from the settings by its factory.

The core knows the endpoint kinds (the directory's `Endpoint.kind`), the `Connector` protocol
and `Receipt` (pipeline/deliver); the connectors layer registers a factory per kind
(connectors/delivery.py) and the wiring of `run` / `worker` asks `build` for the connectors of
a running service, so no stage names a connector.
"""
from __future__ import annotations

from typing import Callable

from pipeline.deliver import Connector
from pipeline.route.directory import ENDPOINT_KINDS as BY_CONNECTION_TYPE
from pipeline.settings import Settings
from pipeline.storage import Store

ENDPOINT_KINDS = tuple(BY_CONNECTION_TYPE.values())  # fhir-rest, hl7v2-mllp, direct, inbox, webhook

Factory = Callable[[Settings, Store], Connector]


class Registry:
    """Endpoint kind → the factory of its connector; one factory per kind."""

    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}

    def register(self, kind: str, factory: Factory) -> None:
        if kind not in ENDPOINT_KINDS:
            raise ValueError(f"unknown endpoint kind {kind!r} (known: {', '.join(ENDPOINT_KINDS)})")
        if kind in self._factories:
            raise ValueError(f"endpoint kind {kind!r} already has a connector")
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return list(self._factories)

    def build(self, settings: Settings, store: Store) -> dict[str, Connector]:
        """One connector per registered kind, for one running service."""
        return {kind: factory(settings, store) for kind, factory in self._factories.items()}
