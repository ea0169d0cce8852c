"""The demo's recipients (`handoff run`): the sample directory's FHIR REST, MLLP and Direct
providers get a local peer each, and a co-responder team's alert webhook a receiver that checks
the signature (connectors/peers/webhook.py), started here on loopback with throw-away keys and
certificates under the run directory. The directory the demo routes with is the sample one
with these providers' addresses set to the ports the peers got; a provider whose peer cannot
run (no Java for the HAPI FHIR server, say) is given Handoff's inbox instead, with a line why.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import ssl
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.edge.certs import issue, make_ca
from connectors.peers.fhir import FhirServerProcess, Unavailable
from connectors.peers.mllp import MllpPeer
from connectors.peers.smtp import SmtpPeer, direct_certs
from connectors.peers.webhook import WebhookPeer
from pipeline.settings import Settings

SENDER = "referrals@direct.handoff-demo.test"
CLIENT_ID = "handoff-demo"
INBOX = {"system": "urn:handoff:endpoint-type", "code": "handoff-inbox"}


@dataclass
class Peers:
    settings: Settings  # with the demo directory and the delivery credentials
    fhir: FhirServerProcess | None = None
    mllp: MllpPeer | None = None
    smtp: SmtpPeer | None = None
    webhooks: dict[str, WebhookPeer] = field(default_factory=dict)  # recipient id -> its alert receiver
    lines: list[str] = field(default_factory=list)


async def start(settings: Settings, run_dir: Path, stack: AsyncExitStack, fhir_server: bool = True,
                fhir_given: tuple[str, str, str, Path] | None = None) -> Peers:
    """Start the peers; `fhir_given` (base, token URL, client id, private key) uses a FHIR server
    that runs already (the test session's) instead of starting one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    sample = json.loads(Path(settings.routing.directory).read_text())
    endpoints = {e["resource"]["connectionType"]["code"]: e["resource"] for e in sample["entry"]
                 if e["resource"]["resourceType"] == "Endpoint" and e["resource"]["connectionType"]["code"] != "handoff-inbox"
                 and e["resource"]["connectionType"]["code"] != "webhook"}
    peers = Peers(settings)
    delivery = settings.delivery.model_dump()
    certs = run_dir / "certs"

    ca = make_ca(certs / "mllp")
    server = issue(ca, certs / "mllp", "mllp-peer", server=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(server.cert, server.key)
    peers.mllp = await MllpPeer(tls=tls).start()
    stack.push_async_callback(peers.mllp.stop)
    delivery["mllp"].update(ca_bundle=ca.cert)
    _point(endpoints.get("hl7v2-mllp"), peers.mllp.address, peers, "MLLP receiver (TLS)")

    direct = endpoints.get("direct-project")
    if direct is not None:
        made = direct_certs(certs / "direct", [SENDER, direct["address"]])
        peers.smtp = await asyncio.to_thread(SmtpPeer().start)
        stack.callback(peers.smtp.stop)
        delivery["direct"].update(smtp_host="127.0.0.1", smtp_port=peers.smtp.port, sender=SENDER,
                                  signing_cert=made[SENDER][0], signing_key=made[SENDER][1],
                                  recipient_certs={direct["address"]: made[direct["address"]][0]})
        peers.lines.append(f"Direct HISP (SMTP, S/MIME) at 127.0.0.1:{peers.smtp.port} for {direct['address']}")

    alerts = settings.alerts.model_dump()
    hooks = [e["resource"] for e in sample["entry"] if e["resource"]["resourceType"] == "Endpoint"
             and e["resource"]["connectionType"]["code"] == "webhook"]
    if hooks:
        web_ca = make_ca(certs / "webhook")
        leaf = issue(web_ca, certs / "webhook", "webhook-peer", server=True)
        web_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        web_tls.load_cert_chain(leaf.cert, leaf.key)
        alerts["ca_bundle"] = web_ca.cert
    for hook in hooks:
        team = hook["managingOrganization"]["reference"].split("/")[-1]
        key = secrets.token_hex(24)  # throw-away, like the certificates
        peers.webhooks[team] = WebhookPeer(key, web_tls).start()
        stack.callback(peers.webhooks[team].stop)
        alerts["webhook_keys"][team] = key
        _point(hook, peers.webhooks[team].address, peers, "alert webhook (HMAC-signed, TLS)")

    fhir = endpoints.get("hl7-fhir-rest")
    if fhir is not None and fhir_given is not None:
        base, token_url, client_id, private = fhir_given
        delivery["fhir"].update(client_id=client_id, token_url=token_url, private_key=private)
        _point(fhir, base, peers, "FHIR server (given)")
    elif fhir is not None and fhir_server:
        key = ec.generate_private_key(ec.SECP384R1())
        (certs / "smart").mkdir(parents=True, exist_ok=True)
        private, public = certs / "smart" / "client.key", certs / "smart" / "client.pub"
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
        try:
            peers.fhir = await asyncio.to_thread(FhirServerProcess.start, run_dir / "fhir", CLIENT_ID, [public], True)
        except Unavailable as e:
            _to_inbox(fhir, peers, f"FHIR server skipped: {e}")
        else:
            stack.callback(peers.fhir.stop)
            delivery["fhir"].update(client_id=CLIENT_ID, token_url=peers.fhir.token_url, private_key=private)
            _point(fhir, peers.fhir.base, peers, f"HAPI FHIR server (SMART ES384, ready in "
                                                 f"{peers.fhir.start_seconds:.1f}s)")
    elif fhir is not None:
        _to_inbox(fhir, peers, "FHIR server not started (--no-fhir-server)")

    path = run_dir / "demo-directory.json"
    path.write_text(json.dumps(sample))
    peers.settings = settings.model_copy(update={
        "routing": settings.routing.model_copy(update={"directory": str(path)}),
        "delivery": type(settings.delivery).model_validate(delivery),
        "alerts": type(settings.alerts).model_validate(alerts)})
    return peers


def _point(endpoint: dict | None, address: str, peers: Peers, what: str) -> None:
    if endpoint is not None:
        endpoint["address"] = address
        peers.lines.append(f"{what} at {address} for {endpoint['managingOrganization']['reference']}")


def _to_inbox(endpoint: dict, peers: Peers, why: str) -> None:
    org = endpoint["managingOrganization"]["reference"].split("/")[-1]
    endpoint.update(connectionType=INBOX, address=org)
    peers.lines.append(f"{why}; {org} gets Handoff's inbox instead")
