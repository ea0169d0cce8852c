"""The webhook connector against a real HTTPS receiver on loopback (connectors.peers.webhook)
that checks the HMAC signature with the recipient's key, and the classification of its answers."""
from __future__ import annotations

import json
import ssl
import time

import pytest
from pydantic import SecretStr

from connectors.peers.webhook import WebhookPeer
from connectors.webhook import WebhookConnector, signature, verify
from pipeline.deliver import Receipt
from pipeline.errors import Permanent, Transient
from pipeline.settings import AlertSettings
from tests.support.delivery import delivery
from tests.support.edges import make_certs

KEY = "crisis-team-key-0123456789abcdef"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("webhook-certs"))


@pytest.fixture
def receiver(certs, request):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs.server.cert, certs.server.key)
    peer = WebhookPeer(KEY, tls, getattr(request, "param", 200)).start()
    yield peer
    peer.stop()


def settings(certs, key: str = KEY, timeout: float = 5.0) -> AlertSettings:
    return AlertSettings(webhook_keys={"org-crisis": SecretStr(key)}, webhook_timeout=timeout, ca_bundle=certs.ca.cert)


def alert(receiver) -> object:
    return delivery("webhook", receiver.address, pid="org-crisis")


async def test_a_signed_alert_reaches_the_receiver_which_verifies_it(certs, receiver):
    connector = WebhookConnector(settings(certs))
    d = alert(receiver)
    try:
        assert await connector.deliver(d) == Receipt(delivered=True, duplicate=False, detail="webhook 200")
    finally:
        await connector.aclose()
    assert receiver.refused == 0
    assert [(a.message_id, a.body) for a in receiver.accepted] == [(d.message_id, d.payload)]
    assert json.loads(receiver.accepted[0].body)  # the body is the JSON payload, unchanged


async def test_the_wrong_key_is_refused_by_the_receiver_and_that_is_permanent(certs, receiver):
    connector = WebhookConnector(settings(certs, key="someone-elses-key"))
    try:
        with pytest.raises(Permanent, match="401"):
            await connector.deliver(alert(receiver))
    finally:
        await connector.aclose()
    assert receiver.refused == 1 and receiver.accepted == []


async def test_no_key_for_the_recipient_sends_nothing(certs, receiver):
    connector = WebhookConnector(AlertSettings(ca_bundle=certs.ca.cert))
    try:
        with pytest.raises(Permanent, match="no webhook key for recipient org-crisis"):
            await connector.deliver(alert(receiver))
    finally:
        await connector.aclose()
    assert receiver.refused == 0 and receiver.accepted == []


@pytest.mark.parametrize("receiver", [503, 429], indirect=True)
async def test_a_busy_receiver_is_transient(certs, receiver):
    connector = WebhookConnector(settings(certs))
    try:
        with pytest.raises(Transient, match=str(receiver.status)):
            await connector.deliver(alert(receiver))
    finally:
        await connector.aclose()


async def test_nobody_listening_is_transient(certs):
    connector = WebhookConnector(settings(certs, timeout=1.0))
    try:
        with pytest.raises(Transient, match="not reached"):
            await connector.deliver(delivery("webhook", "https://127.0.0.1:1/alerts", pid="org-crisis"))
    finally:
        await connector.aclose()


def test_the_signature_covers_body_and_time_and_an_old_one_is_refused():
    key, body = KEY.encode(), b'{"incident": "CAD-1"}'
    signed = signature(key, 1000, body)
    assert verify(key, "1000", signed, body, now=1010)
    assert not verify(key, "1000", signed, body + b" ", now=1010)
    assert not verify(key, "1001", signed, body, now=1010)
    assert not verify(b"other", "1000", signed, body, now=1010)
    assert not verify(key, "1000", signed, body, now=1000 + 301)  # a replay past the tolerance
    assert not verify(key, "soon", signed, body, now=1010)
