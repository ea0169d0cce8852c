"""Dispatch-time alerts end to end on the real broker: EIDO POSTed to the HTTP intake (TLS) →
dispatch.incident → classify-incident (route_dispatch, the consent policy) → dispatch.alert →
send-alert (webhook connector) → a real HTTPS receiver per team on loopback that checks the HMAC
signature (tests/support/alerts.py). The on-duty team is alerted once (its first call failing
goes through the retry tier), updated on a new EIDO version, withdrawn on close; the police
crisis unit, the off-duty team and a traffic call get nothing."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from connectors.cad.samples import crisis_call, traffic_call
from pipeline.kafka.read import read_topic
from tests.support.alerts import NIGHT, POLICE, TEAM, running
from tests.support.edges import make_certs
from tests.support.kafka import until

pytestmark = pytest.mark.kafka


def actions(peer) -> list[tuple[str, str, int]]:
    return [(b["action"], b["incident_number"], b["version"]) for b in (json.loads(a.body) for a in peer.accepted)]


async def test_an_on_duty_team_is_alerted_once_updated_and_withdrawn_and_no_one_else(kafka, catalogue, tmp_path):
    certs = make_certs(tmp_path / "certs")
    at = datetime.now(timezone.utc).replace(microsecond=0)
    open_call, later, closed = (crisis_call("24-70001", at), crisis_call("24-70001", at + timedelta(seconds=30),
                                                                          units=("MCT1",)),
                                crisis_call("24-70001", at + timedelta(seconds=60), closed=True))
    async with running(kafka.bootstrap, catalogue, certs, tmp_path) as rig:
        team = rig.peers[TEAM]
        team.fail_next(1, 503)  # the first call fails: the alert goes on to dispatch.alert.retry.5s
        posted = time.time()
        await rig.post(open_call)
        await rig.post(traffic_call("24-70002", at))
        await until(lambda: team.accepted, timeout=60)
        first_after = team.accepted[0].at - posted
        await rig.post(open_call)  # the same version again (a CAD resend): nothing twice
        await rig.post(later)
        await until(lambda: len(team.accepted) >= 2)
        await rig.post(closed)
        await until(lambda: len(team.accepted) >= 3)
        await asyncio.sleep(2)  # anything else on its way would arrive now
        audits = [catalogue["audit"].value.decode(m.value)
                  for m in await read_topic(kafka.bootstrap, catalogue["audit"].full_name)]
        sent = [rig.metrics.alerts.labels(o)._value.get() for o in ("sent", "updated", "withdrawn", "failed")]
        timed = rig.metrics.alert_seconds.collect()[0]

    assert actions(team) == [("alert", "24-70001", int(at.timestamp())),
                             ("update", "24-70001", int(at.timestamp()) + 30),
                             ("withdraw", "24-70001", int(at.timestamp()) + 60)]
    assert team.refused == 0  # every request carried a valid signature
    assert first_after >= 5.0  # it came from the 5 s retry tier, not at once and not dead-lettered
    body = json.loads(team.accepted[0].body)
    assert body["call_nature"] == ["behavioral_health", "suicide_risk"] and body["safety"] == ["weapon"]
    assert body["location"]["city"] == "Springfield" and body["dispatch_centre"] == "psap-north"
    text = team.accepted[0].body.decode().lower()
    assert "samplename" not in text and "5550142" not in text and "brother" not in text
    assert rig.peers[POLICE].accepted == [] and rig.peers[POLICE].refused == 0
    assert rig.peers[NIGHT].accepted == [] and rig.peers[NIGHT].refused == 0
    assert sent == [1, 1, 1, 0]
    # the police unit's refusal is a decision on record; the team's alerts are disclosures on their basis
    denied = [a for a in audits if a.kind.value == "decision" and a.outcome == "deny"]
    assert {a.recipient_id for a in denied} == {POLICE} and "law-enforcement" in denied[0].detail["reasons"]
    delivered = [a for a in audits if a.outcome == "delivered" and a.recipient_id == TEAM]
    assert sorted(a.detail["action"] for a in delivered) == ["alert", "update", "withdraw"]  # partitions: any order
    assert delivered[0].basis.value == "emergency-dispatch" and delivered[0].variant.value == "no-sud"
    assert [a.outcome for a in audits if a.recipient_id == TEAM and a.kind.value == "delivery-attempt"
            and a.actor == "connector:webhook"] == ["retry"]  # (the hand-on to the tier is audited too)
    assert next(s.value for s in timed.samples if s.name.endswith("_count")) == 2
