"""The incident stage's alerts through a real database (table dispatch_alert) and the send-alert
stage through the webhook connector to a real HTTPS receiver on loopback that checks the
signature: one alert per team and incident, an update for a new version, withdrawal on close."""
from __future__ import annotations

import json
from dataclasses import replace

from pydantic import SecretStr

from connectors.webhook import WebhookConnector
from pipeline import app
from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.detect import load_rules
from pipeline.route import DirectorySource, load_routing_rules
from pipeline.settings import AlertSettings
from pipeline.stage import Context
from tests.support.factory import T0, at_version
from tests.unit.alerts.test_plan import INCIDENT
from tests.unit.alerts.test_webhook import KEY, certs, receiver  # noqa: F401 (fixtures)


class Directory(DirectorySource):
    """The sample directory with the mobile crisis team's endpoint pointed at the test receiver."""

    def __init__(self, address: str) -> None:
        super().__init__()
        base = super().current()
        team = base.get("org-mobile-crisis")
        moved = replace(team, endpoint=r.Endpoint(kind="webhook", address=address))
        self._fixed = replace(base, providers=tuple(moved if p.id == team.id else p for p in base.providers))

    def current(self):
        return self._fixed


def deps(store, address: str, connectors=None) -> app.Deps:
    return app.Deps(catalogue=None, store=store, directory=Directory(address), routing=load_routing_rules(),
                    rules=load_rules(), linkage_keys={}, connectors=connectors or {}, clock=FixedClock(T0))


def ctx() -> Context:
    return Context("classify-incident", r.SourceRef(topic="dispatch.incident", record_id="CAD-2026-0042"),
                   FixedClock(T0), "trace", 0, 0)


async def alerts_for(d: app.Deps, incident: r.DispatchIncident) -> list[r.DispatchAlert]:
    result = await app.classify_incident(d, incident, ctx())
    return [o.value for o in result.outputs if o.topic == "dispatch.alert"]


async def test_alert_once_update_then_withdraw_and_each_reaches_the_receiver(migrated, certs, receiver):  # noqa: F811
    address = f"https://127.0.0.1:{receiver.server_address[1]}/alerts"
    connector = WebhookConnector(AlertSettings(webhook_keys={"org-mobile-crisis": SecretStr(KEY)},
                                               ca_bundle=certs.ca.cert))
    d = deps(migrated, address, {"webhook": connector})
    try:
        [first] = await alerts_for(d, INCIDENT)
        assert (first.action, first.recipient_id, first.incident_version) == ("alert", "org-mobile-crisis", 1)
        assert await alerts_for(d, INCIDENT) == []  # the same version again (a redelivery): nothing twice
        [update] = await alerts_for(d, at_version(INCIDENT, 2))
        assert update.action == "update"
        [withdraw] = await alerts_for(d, at_version(INCIDENT, 3, cleared_at=T0))
        assert withdraw.action == "withdraw"
        assert await alerts_for(d, at_version(INCIDENT, 4)) == []  # withdrawn: never again
        for alert in (first, update, withdraw):
            await app.send_alert(d, alert, ctx())
    finally:
        await connector.aclose()
    assert receiver.refused == 0
    sent = [json.loads(body) for _, body in receiver.accepted]
    assert [(b["action"], b["version"]) for b in sent] == [("alert", 1), ("update", 2), ("withdraw", 3)]
    assert sent[0]["incident_number"] == "CAD-2026-0042" and sent[0]["safety"] == ["weapon"]
    assert "neighbourname" not in receiver.accepted[0][1].decode().lower()


async def test_a_call_that_is_not_behavioural_health_alerts_no_one(migrated):
    d = deps(migrated, "https://127.0.0.1:1/unused")
    traffic = INCIDENT.model_copy(update={"call_type": "TRAFFIC", "call_type_text": "collision",
                                          "narrative": "two cars, minor damage"})
    assert await alerts_for(d, traffic) == []
