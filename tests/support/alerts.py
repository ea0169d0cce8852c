"""The dispatch-time alert path as it runs, for the end-to-end test and the bench: the real HTTP
intake (uvicorn, TLS) taking EIDO POSTs, the worker's stages on the real broker
(classify-incident, send-alert and its retry tiers, through faust), the webhook connector, and a
real webhook receiver per team on loopback that checks the HMAC signature
(connectors/peers/webhook.py).

The directory is the sample one plus two teams like the mobile crisis team: a police crisis unit
(law enforcement, co-responder) and a night team off duty now; each team has its own receiver
and key, so a team the policy or the hours leave out would be seen receiving.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

from connectors.cad.samples import ISSUER
from connectors.delivery import registry
from connectors.edge.tls import client_context
from connectors.peers.webhook import WebhookPeer
from pipeline.app import Deps, runners
from pipeline.clock import SystemClock
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.kafka.producer import ProducerSink
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.storage import open_store
from tests.support.edges import KEYS, Certs, edge_settings, running_intake

TEAM, POLICE, NIGHT = "org-mobile-crisis", "org-police-crisis", "org-night-crisis"
STAGES = ["classify-incident", "send-alert", "send-alert-5s", "send-alert-30s", "send-alert-2m"]
JSON = {"content-type": "application/json", "X-API-Key": KEYS["psap-north"]}


def directory(sample: Path, out: Path, addresses: dict[str, str], now: datetime) -> Path:
    """The sample directory, the mobile crisis team's alerts at its receiver, and two more teams."""
    bundle = json.loads(sample.read_text())
    own = [e for e in bundle["entry"] if TEAM in e["fullUrl"] or TEAM in json.dumps(e["resource"].get("id", ""))]
    hour = now.hour
    start = (hour + 2) % 24 if hour + 3 <= 23 else hour - 3  # a one-hour shift that is not now
    for team, changes in ((POLICE, {"law": True}), (NIGHT, {"hours": (f"{start:02d}:00:00", f"{start + 1:02d}:00:00")})):
        for entry in json.loads(json.dumps(own).replace(TEAM, team)):
            resource = entry["resource"]
            if resource["resourceType"] == "HealthcareService":
                if changes.get("law"):
                    resource["extension"].append({"url": "urn:handoff:law-enforcement", "valueBoolean": True})
                if changes.get("hours"):
                    resource["availableTime"] = [{"daysOfWeek": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                                  "availableStartTime": changes["hours"][0],
                                                  "availableEndTime": changes["hours"][1]}]
            bundle["entry"].append(entry)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Endpoint" and resource["connectionType"]["code"] == "webhook":
            resource["address"] = addresses[resource["managingOrganization"]["reference"].split("/")[-1]]
    out.write_text(json.dumps(bundle))
    return out


@dataclass
class Rig:
    intake: httpx.AsyncClient
    peers: dict[str, WebhookPeer]
    metrics: Metrics
    store: object

    unavailable: int = 0  # 503 answers (the broker did not commit in time), each resent as a CAD would

    async def post(self, doc: dict) -> httpx.Response:
        """POST one EIDO document until the intake accepts it (a 503 is resent, as a CAD does)."""
        body = json.dumps(doc).encode()
        for _ in range(10):
            response = await self.intake.post("/v1/eido", content=body, headers=JSON)
            if response.status_code != 503:
                break
            self.unavailable += 1
            await asyncio.sleep(0.2)
        response.raise_for_status()
        return response


@contextlib.asynccontextmanager
async def running(bootstrap: str, catalogue, certs: Certs, tmp: Path):
    """The intake, the stages and a receiver per team; yields a Rig."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs.server.cert, certs.server.key)
    keys = {team: secrets.token_hex(16) for team in (TEAM, POLICE, NIGHT)}
    peers = {team: WebhookPeer(key, tls).start() for team, key in keys.items()}
    base = edge_settings(certs, catalogue.prefix)
    sample = Path(Settings().routing.directory)
    routes = directory(sample, tmp / "directory.json", {t: p.address for t, p in peers.items()},
                       datetime.now(timezone.utc))
    settings = base.model_copy(update={
        "ingest": base.ingest.model_copy(update={"agency_dispatch_centre": {ISSUER: "psap-north"}}),
        "routing": base.routing.model_copy(update={"directory": str(routes)}),
        "alerts": base.alerts.model_copy(update={"webhook_keys": {t: k for t, k in keys.items()},
                                                 "ca_bundle": certs.ca.cert})})
    settings = Settings.model_validate(settings.model_dump())  # the keys as secrets
    store = open_store(f"sqlite:///{tmp / 'alerts.db'}")
    store.migrate()
    metrics = Metrics()
    connectors = registry().build(settings, store)
    deps = Deps.build(settings, catalogue, store, connectors, SystemClock())
    app = make_app(bootstrap, f"g-{catalogue.prefix}")
    for runner in runners(deps, FaustSink(app), metrics, names=STAGES):
        attach(app, runner)
    await app.start()
    try:
        async with ProducerSink(bootstrap) as sink, running_intake(settings, sink, catalogue) as (url, _):
            verify = client_context(certs.ca.cert, None, None)
            async with httpx.AsyncClient(base_url=url, verify=verify, timeout=15) as intake:
                yield Rig(intake, peers, metrics, store)
    finally:
        await app.stop()
        for connector in connectors.values():
            close = getattr(connector, "aclose", None)
            if close is not None:
                await close()
        for peer in peers.values():
            peer.stop()
        store.close()
