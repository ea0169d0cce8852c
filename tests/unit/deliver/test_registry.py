"""The delivery-connector registry: endpoint kind → a connector built from the settings."""
from __future__ import annotations

import pytest

from connectors.delivery import registry
from connectors.inbox import InboxConnector
from pipeline.deliver import Receipt
from pipeline.deliver.registry import ENDPOINT_KINDS, Registry
from pipeline.settings import Settings
from tests.unit.audit.test_fhir import _delivery


async def test_the_built_inbox_connector_stores_a_delivery_once(migrated):
    connectors = registry().build(Settings(environment="test"), migrated)
    assert set(connectors) == {"inbox", "fhir-rest", "hl7v2-mllp", "direct", "webhook"}
    assert isinstance(connectors["inbox"], InboxConnector)
    delivery = _delivery()
    assert await connectors["inbox"].deliver(delivery) == Receipt(delivered=True, duplicate=False)
    assert await connectors["inbox"].deliver(delivery) == Receipt(delivered=True, duplicate=True)
    with migrated.transaction() as tx:
        assert tx.fetchone("SELECT payload FROM inbox_item WHERE delivery_id = :d", {"d": delivery.delivery_id})


def test_a_kind_is_registered_once_and_only_a_known_kind():
    found = Registry()
    found.register("webhook", lambda settings, store: InboxConnector(store))
    assert found.kinds() == ["webhook"]
    with pytest.raises(ValueError, match="already has a connector"):
        found.register("webhook", lambda settings, store: InboxConnector(store))
    with pytest.raises(ValueError, match="unknown endpoint kind 'ftp'"):
        found.register("ftp", lambda settings, store: InboxConnector(store))


def test_every_endpoint_kind_has_a_format():
    from pipeline.render import FORMATS

    assert set(ENDPOINT_KINDS) == set(FORMATS) == {"fhir-rest", "hl7v2-mllp", "direct", "inbox", "webhook"}
