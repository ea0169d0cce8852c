"""The MLLP client against a real MLLP peer on loopback (TLS and plain): AA, AE, AR, no ACK, reset."""
from __future__ import annotations

import ssl

import pytest

from connectors.edge.certs import issue, make_ca
from connectors.hl7v2_mllp import MllpConnector, address_of, control_id
from connectors.peers.mllp import MllpPeer
from pipeline.deliver import Ambiguous
from pipeline.errors import Permanent, Transient
from pipeline.settings import MllpDelivery
from tests.support.delivery import delivery


@pytest.fixture
def certs(tmp_path):
    ca = make_ca(tmp_path / "certs")
    return ca, issue(ca, tmp_path / "certs", "mllp-peer", server=True)


async def test_tls_aa_is_delivered_and_kept_once_per_control_id(certs):
    ca, server = certs
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(server.cert, server.key)
    peer = await MllpPeer(tls=tls).start()
    try:
        connector = MllpConnector(MllpDelivery(ca_bundle=ca.cert, ack_timeout=2))
        d = delivery("hl7v2-mllp", peer.address)
        receipt = await connector.deliver(d)
        again = await connector.deliver(d)  # a resend: the same MSH-10
        assert receipt.delivered and receipt.detail == "AA" and again.delivered
        assert len(peer.received) == 2 and list(peer.held) == [d.message_id]
        assert peer.referrals() == {d.referral_id: ["I12"]}
    finally:
        await peer.stop()


async def test_a_server_certificate_from_another_ca_is_not_sent_to(certs, tmp_path):
    _, server = certs
    other = make_ca(tmp_path / "other", "Another CA")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(server.cert, server.key)
    peer = await MllpPeer(tls=tls).start()
    try:
        with pytest.raises(Transient, match="not reached: SSL"):
            await MllpConnector(MllpDelivery(ca_bundle=other.cert)).deliver(delivery("hl7v2-mllp", peer.address))
        assert peer.received == []
    finally:
        await peer.stop()


@pytest.mark.parametrize("code", ["AE", "AR"])
async def test_ae_and_ar_are_permanent_with_the_err_reason(code):
    peer = await MllpPeer(default=code).start()
    try:
        with pytest.raises(Permanent) as e:
            await MllpConnector(MllpDelivery(ack_timeout=2)).deliver(delivery("hl7v2-mllp", peer.address))
        assert str(e.value).startswith(code) and ("PID-3" in str(e.value) or "not served" in str(e.value))
    finally:
        await peer.stop()


@pytest.mark.parametrize("behaviour", ["silent", "reset"])
async def test_no_ack_is_ambiguous_and_the_resend_keeps_the_control_id(behaviour):
    peer = await MllpPeer().start()
    peer.script = [behaviour]
    try:
        connector = MllpConnector(MllpDelivery(ack_timeout=0.3))
        d = delivery("hl7v2-mllp", peer.address)
        with pytest.raises(Ambiguous):
            await connector.deliver(d)
        await connector.deliver(d)  # later, the same bytes
        assert [control_id(m) for m in peer.received] == [d.message_id, d.message_id]
        assert peer.referrals() == {d.referral_id: ["I12"]}  # the recipient holds it once
    finally:
        await peer.stop()


async def test_nobody_listening_is_transient_and_a_bad_address_permanent():
    peer = await MllpPeer().start()
    address = peer.address
    await peer.stop()
    with pytest.raises(Transient, match="not reached"):
        await MllpConnector(MllpDelivery(connect_timeout=1)).deliver(delivery("hl7v2-mllp", address))
    with pytest.raises(Permanent, match="not an MLLP address"):
        address_of("https://example.org/")


async def test_without_idempotency_a_resend_is_a_second_referral():
    peer = await MllpPeer().start()
    try:
        connector = MllpConnector(MllpDelivery(ack_timeout=2), idempotent=False)
        d = delivery("hl7v2-mllp", peer.address)
        await connector.deliver(d)
        await connector.deliver(d)
        assert len(peer.referrals()[d.referral_id]) == 2
    finally:
        await peer.stop()
