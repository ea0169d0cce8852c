"""Direct over SMTP to a local aiosmtpd server: signed and encrypted S/MIME that Debian's
`openssl cms` decrypts with the recipient's key and verifies against the CA; one message per
Message-ID at the HISP; 4xx transient, 5xx permanent."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from connectors.direct import DirectConnector
from connectors.peers.smtp import SmtpPeer, direct_certs
from pipeline.errors import Permanent, Transient
from pipeline.settings import DirectDelivery
from tests.support.delivery import delivery

SENDER, TO = "referrals@handoff.direct.test", "intake@direct.bridge.test"


@pytest.fixture
def hisp():
    peer = SmtpPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def certs(tmp_path):
    return direct_certs(tmp_path / "direct", [SENDER, TO])


def settings(hisp, certs, **more) -> DirectDelivery:
    return DirectDelivery(**{"smtp_port": hisp.port, "sender": SENDER, "signing_cert": certs[SENDER][0],
                             "signing_key": certs[SENDER][1], "recipient_certs": {TO: certs[TO][0]}, "timeout": 5,
                             **more})


def openssl(*args: str, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "cms", *args], input=data, capture_output=True, timeout=30)


async def test_signed_and_encrypted_and_verified_by_openssl(hisp, certs, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("Debian's openssl is not installed (apt-get install openssl)")
    d = delivery("direct", TO)
    connector = DirectConnector(settings(hisp, certs))
    assert (await connector.deliver(d)).delivered
    await connector.deliver(d)  # a resend after a crash: the same Message-ID
    assert len(hisp.received) == 2 and list(hisp.held) == [f"<{d.message_id}@handoff>"]
    mail = hisp.received[0]
    assert b"application/pkcs7-mime" in mail and b"Quillfeather" not in mail  # nothing readable in transit
    decrypted = openssl("-decrypt", "-recip", str(certs[TO][0]), "-inkey", str(certs[TO][1]), data=mail)
    assert decrypted.returncode == 0, decrypted.stderr
    assert b"multipart/signed" in decrypted.stdout
    verified = openssl("-verify", "-CAfile", str(certs["ca"][0]), data=decrypted.stdout)
    assert verified.returncode == 0 and b"Verification successful" in verified.stderr, verified.stderr
    assert b"Quillfeather" in verified.stdout and b"application/fhir+json" in verified.stdout
    tampered = decrypted.stdout.replace(b"Quillfeather", b"Quillfeathex")
    assert openssl("-verify", "-CAfile", str(certs["ca"][0]), data=tampered).returncode != 0


async def test_replies_are_classified(hisp, certs):
    connector = DirectConnector(settings(hisp, certs))
    hisp.script = ["451", "554"]
    with pytest.raises(Transient, match="451"):
        await connector.deliver(delivery("direct", TO))
    with pytest.raises(Permanent, match="554"):
        await connector.deliver(delivery("direct", TO))
    with pytest.raises(Permanent, match="no encryption certificate"):
        await connector.deliver(delivery("direct", "someone@elsewhere.test"))
    gone = DirectConnector(settings(hisp, certs, smtp_port=1))
    with pytest.raises(Transient, match="not reached"):
        await gone.deliver(delivery("direct", TO))


async def test_without_idempotency_a_resend_is_a_second_referral(hisp, certs):
    connector = DirectConnector(settings(hisp, certs), idempotent=False)
    d = delivery("direct", TO)
    await connector.deliver(d)
    await connector.deliver(d)
    assert len(hisp.referrals()[d.referral_id]) == 2
