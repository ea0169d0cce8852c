"""The delivery connectors this build has, registered by endpoint kind (pipeline/deliver/registry.py),
each built from the settings' `delivery` section."""
from __future__ import annotations

from connectors.direct import DirectConnector
from connectors.fhir_rest import FhirRestConnector
from connectors.hl7v2_mllp import MllpConnector
from connectors.inbox import InboxConnector
from connectors.webhook import WebhookConnector
from pipeline.deliver.registry import Registry


def registry() -> Registry:
    """Every connector Handoff can deliver through; an endpoint of another kind is a permanent failure."""
    found = Registry()
    found.register("inbox", lambda settings, store: InboxConnector(store))
    found.register("fhir-rest", lambda s, store: FhirRestConnector(s.delivery.fhir, s.delivery.idempotent))
    found.register("hl7v2-mllp", lambda s, store: MllpConnector(s.delivery.mllp, s.delivery.idempotent))
    found.register("direct", lambda s, store: DirectConnector(s.delivery.direct, s.delivery.idempotent))
    found.register("webhook", lambda s, store: WebhookConnector(s.alerts))
    return found
