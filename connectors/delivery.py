"""The delivery connectors by endpoint kind, built from the settings' `delivery` section."""
from __future__ import annotations

from connectors.direct import DirectConnector
from connectors.fhir_rest import FhirRestConnector
from connectors.hl7v2.sender import MllpConnector
from connectors.inbox import InboxConnector
from pipeline.deliver import Connector
from pipeline.settings import Settings
from pipeline.storage import Store


def connectors(settings: Settings, store: Store) -> dict[str, Connector]:
    d = settings.delivery
    return {"inbox": InboxConnector(store), "fhir-rest": FhirRestConnector(d.fhir, d.idempotent),
            "hl7v2-mllp": MllpConnector(d.mllp, d.idempotent), "direct": DirectConnector(d.direct, d.idempotent)}
