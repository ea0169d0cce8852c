"""The incident stage's alerts and the send-alert stage through a real database (table
dispatch_alert) and the webhook connector to a real HTTPS receiver on loopback that checks the
signature: one alert per team and incident, an update for a new version, withdrawal on close;
the row is written only once the team's webhook answered; refusals and sends are audited and
counted."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pydantic import SecretStr

from connectors.webhook import WebhookConnector
from pipeline import alerts, app
from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.consent import Gate, load_policy
from pipeline.detect import load_rules
from pipeline.errors import Permanent, Transient
from pipeline.metrics import Metrics
from pipeline.route import DirectorySource, load_routing_rules
from pipeline.settings import AlertSettings
from pipeline.stage import Context
from pipeline.vocab import AuditKind
from tests.support.factory import T0, at_version
from tests.unit.alerts.test_plan import INCIDENT
from tests.unit.alerts.test_webhook import KEY, certs, receiver  # noqa: F401 (fixtures)

TEAM = "org-mobile-crisis"


class Directory(DirectorySource):
    """The sample directory with the mobile crisis team's alerts pointed at the test receiver."""

    def __init__(self, address: str, **team) -> None:
        super().__init__()
        base = super().current()
        moved = replace(base.get(TEAM), alert_endpoint=r.Endpoint(kind="webhook", address=address), **team)
        self._fixed = replace(base, providers=tuple(moved if p.id == TEAM else p for p in base.providers))

    def current(self):
        return self._fixed


class Stack:
    """The stages' dependencies with a real store and connector; audits written at once are kept."""

    def __init__(self, store, address: str, certs=None, **team) -> None:  # noqa: F811
        self.audits: list[r.AuditEvent] = []
        self.connector = WebhookConnector(AlertSettings(webhook_keys={TEAM: SecretStr(KEY)},
                                                        ca_bundle=certs.ca.cert if certs else None))
        self.metrics = Metrics()
        self.deps = app.Deps(catalogue=None, store=store, directory=Directory(address, **team),
                             routing=load_routing_rules(), rules=load_rules(), linkage_keys={},
                             connectors={"webhook": self.connector}, clock=FixedClock(T0),
                             gate=Gate(store, load_policy()), audit_now=self.keep, metrics=self.metrics)

    async def keep(self, audits) -> None:
        self.audits += audits

    async def classify(self, incident: r.DispatchIncident) -> app.Result:
        return await app.classify_incident(self.deps, incident, ctx("classify-incident", "dispatch.incident"))

    async def alerts_for(self, incident: r.DispatchIncident) -> list[r.DispatchAlert]:
        return [o.value for o in (await self.classify(incident)).outputs if o.topic == "dispatch.alert"]

    async def send(self, alert: r.DispatchAlert, topic: str = "dispatch.alert") -> app.Result:
        return await app.send_alert(self.deps, alert, ctx("send-alert", topic))

    def count(self, outcome: str) -> float:
        return self.metrics.alerts.labels(outcome)._value.get()


def ctx(stage: str, topic: str) -> Context:
    return Context(stage, r.SourceRef(topic=topic, record_id="CAD-2026-0042"), FixedClock(T0), "trace", 0, 0)


@pytest.fixture
async def stack(migrated, certs, receiver):  # noqa: F811
    made = Stack(migrated, receiver.address, certs)
    yield made
    await made.connector.aclose()


def rows(store) -> list[dict]:
    with store.transaction() as tx:
        return tx.fetchall("SELECT recipient_id, last_version, state FROM dispatch_alert")


async def test_alert_once_update_then_withdraw_and_each_reaches_the_receiver(stack, receiver, migrated):  # noqa: F811
    [first] = await stack.alerts_for(INCIDENT)
    assert (first.action, first.recipient_id, first.incident_version) == ("alert", TEAM, 1)
    assert first.decision.basis.value == "emergency-dispatch" and first.endpoint.address == receiver.address
    assert rows(migrated) == []  # planned, not sent: no row yet
    [result] = [await stack.send(first)]
    assert [a.outcome for a in result.audits] == ["delivered"]
    assert result.audits[0].basis.value == "emergency-dispatch" and result.audits[0].recipient_id == TEAM
    assert rows(migrated) == [{"recipient_id": TEAM, "last_version": 1, "state": "sent"}]
    assert (await stack.send(first)).audits == ()  # a redelivery of v1: nothing twice
    [update] = await stack.alerts_for(at_version(INCIDENT, 2))
    await stack.send(update)
    [withdraw] = await stack.alerts_for(at_version(INCIDENT, 3, cleared_at=T0))
    assert withdraw.action == "withdraw"
    await stack.send(withdraw)
    [again] = await stack.alerts_for(at_version(INCIDENT, 4))  # planned again, but withdrawn: never sent
    assert (await stack.send(again)).audits == ()
    assert receiver.refused == 0
    sent = [json.loads(a.body) for a in receiver.accepted]
    assert [(b["action"], b["version"]) for b in sent] == [("alert", 1), ("update", 2), ("withdraw", 3)]
    assert sent[0]["incident_number"] == "CAD-2026-0042" and sent[0]["safety"] == ["weapon"]
    assert sent[0]["call_nature"] == ["behavioral_health", "suicide_risk"]
    assert "neighbourname" not in receiver.accepted[0].body.decode().lower()
    assert (stack.count("sent"), stack.count("updated"), stack.count("withdrawn")) == (1, 1, 1)
    assert stack.metrics.alert_seconds.collect()[0].samples  # intake to alert observed


async def test_a_withdrawal_overtaking_its_alert_means_the_alert_is_never_sent(stack, receiver, migrated):  # noqa: F811
    [first] = await stack.alerts_for(INCIDENT)
    [withdraw] = await stack.alerts_for(at_version(INCIDENT, 2, dispositions=["15"]))
    assert (await stack.send(withdraw)).audits == ()  # the team has nothing: nothing to withdraw
    assert (await stack.send(first, "dispatch.alert.retry.5s")).audits == ()  # the alert was on a retry tier
    assert receiver.accepted == [] and rows(migrated)[0]["state"] == "withdrawn"


async def test_a_failed_send_writes_no_row_is_audited_and_goes_on_then_succeeds(stack, receiver, migrated):  # noqa: F811
    [first] = await stack.alerts_for(INCIDENT)
    receiver.fail_next(1, 503)
    with pytest.raises(Transient):
        await stack.send(first)
    assert rows(migrated) == [] and [a.outcome for a in stack.audits] == ["retry"]
    assert stack.count("failed") == 0  # not final: the stage hands it to the next tier
    retried = first.model_copy(update={"attempt": 1})
    assert [a.outcome for a in (await stack.send(retried, "dispatch.alert.retry.5s")).audits] == ["delivered"]
    assert rows(migrated)[0]["state"] == "sent" and [json.loads(a.body)["action"] for a in receiver.accepted] == \
        ["alert"]


async def test_the_last_tier_failing_is_final_and_counted(stack, receiver):  # noqa: F811
    [first] = await stack.alerts_for(INCIDENT)
    receiver.fail_next(1, 503)
    with pytest.raises(Transient):
        await stack.send(first.model_copy(update={"attempt": 3}), app.ALERT_RETRY[-1])
    assert [a.outcome for a in stack.audits] == ["failure"] and stack.count("failed") == 1
    assert "503" in stack.audits[0].detail["error"] and stack.audits[0].kind == AuditKind.DELIVERY_ATTEMPT


async def test_a_team_without_a_webhook_is_a_permanent_failure(migrated):
    made = Stack(migrated, "unused")
    try:
        [first] = await made.alerts_for(INCIDENT)
        with pytest.raises(Permanent, match="cannot carry a dispatch alert"):
            await made.send(first.model_copy(update={"endpoint": r.Endpoint(kind="inbox", address=TEAM)}))
        assert made.count("failed") == 1 and rows(migrated) == []
    finally:
        await made.connector.aclose()


async def test_a_police_team_gets_nothing_and_the_deny_is_audited(migrated):
    made = Stack(migrated, "https://127.0.0.1:1/unused", law_enforcement=True)
    try:
        result = await made.classify(INCIDENT)
        assert [o.topic for o in result.outputs] == ["detection"]
        [audit] = result.audits
        assert (audit.kind, audit.outcome, audit.recipient_id) == (AuditKind.DECISION, "deny", TEAM)
        assert "law-enforcement" in audit.detail["reasons"]
    finally:
        await made.connector.aclose()


async def test_a_call_that_is_not_behavioural_health_alerts_no_one(migrated):
    made = Stack(migrated, "https://127.0.0.1:1/unused")
    traffic = INCIDENT.model_copy(update={"call_type": "TRAFFIC", "call_type_text": "collision",
                                          "narrative": "two cars, minor damage"})
    try:
        assert await made.alerts_for(traffic) == []
    finally:
        await made.connector.aclose()


def test_settle_is_the_only_judge_of_alert_versus_update(migrated):
    alert = r.DispatchAlert(envelope=INCIDENT.envelope, key=INCIDENT.key, alert_id="a", recipient_id=TEAM,
                            endpoint=r.Endpoint(kind="webhook", address="x"), body=b'{"sent_at": "t", "v": 1}')
    assert alerts.settle(migrated, alert, T0) == alert
    alerts.sent(migrated, alert, T0)
    later = alert.model_copy(update={"incident_version": 2})
    update = alerts.settle(migrated, later, T0)
    assert update.action == "update" and json.loads(update.body) == {"sent_at": "t", "v": 1, "action": "update"}
    assert alerts.settle(migrated, alert, T0) is None  # the version the team has: nothing
