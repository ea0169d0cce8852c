"""Dead letters you can work, through the installed `handoff dlq` on the real broker: a delivery to a
recipient whose kind of connector this deployment lacks is dead-lettered; after the fix (the connector
configured) a replay delivers it once. (A recipient refusing a send is no dead letter since issue 19: the
delivery policy records it as a `failed` status with a failure audit, pipeline/deliver/send.py.)"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.inbox import InboxConnector
from pipeline import records as r
from pipeline.app import Deps, runners
from pipeline.clock import SystemClock
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.kafka.read import read_topic
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.storage import open_store
from pipeline.vocab import AuditKind
from tests.support.kafka import consume, produce
from tests.support.samples import samples

pytestmark = pytest.mark.kafka


def handoff(kafka, catalogue, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_KAFKA__BOOTSTRAP=kafka.bootstrap, HANDOFF_KAFKA__TOPIC_PREFIX=catalogue.prefix)
    return subprocess.run([str(Path(sys.executable).parent / "handoff"), "dlq", *args], capture_output=True,
                          text=True, env=env, timeout=120)


async def deliver_until(kafka, catalogue, store, connector, until):
    connectors = {} if connector is None else {"inbox": connector}  # None: a deployment without one
    deps = Deps.build(Settings(environment="test"), catalogue, store, connectors, SystemClock())
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    for runner in runners(deps, FaustSink(app), Metrics(), names=["deliver"]):
        attach(app, runner)
    await app.start()
    try:
        return await until()
    finally:
        await app.stop()


async def test_a_replay_after_the_fix_delivers_the_referral_once(kafka, catalogue, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    delivery = samples()[r.Delivery]
    await produce(kafka.bootstrap, catalogue["delivery"], [(r.DeliveryKey(referral_id=delivery.referral_id,
                                                                          recipient_id=delivery.recipient_id),
                                                            delivery)])

    [letter] = await deliver_until(kafka, catalogue, store, None,
                                   lambda: consume(kafka.bootstrap, catalogue["delivery.dlq"], 1))
    assert letter.retryable is False and letter.stage == "deliver"

    listed = await asyncio.to_thread(handoff, kafka, catalogue, "list", "--since", "1h")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.startswith(letter.dead_letter_id[:12]) and "permanent" in line and "no delivery connector" in line
    assert "delivery_id=d-1" in line and "person=tok-3f…" in line
    assert "tok-3f9a" not in line and '{"a":1}' not in line  # masked: no whole token, no payload
    shown = await asyncio.to_thread(handoff, kafka, catalogue, "show", letter.dead_letter_id[:10])
    assert shown.returncode == 0 and f"{catalogue['delivery'].full_name}[" in shown.stdout
    assert "retryable  false" in shown.stdout

    dry = await asyncio.to_thread(handoff, kafka, catalogue, "replay", "--reason", "no delivery connector", "--dry-run")
    assert dry.returncode == 0 and "would replay" in dry.stdout and "nothing produced" in dry.stdout
    assert await read_topic(kafka.bootstrap, catalogue["delivery"].full_name, count_only=True) == 1
    none = await asyncio.to_thread(handoff, kafka, catalogue, "replay", "--reason", "no such reason")
    assert none.returncode == 0 and "0 dead letter(s)" in none.stdout

    async def replay_then_status():  # the fix is in (a working connector); now replay
        done = await asyncio.to_thread(handoff, kafka, catalogue, "replay", "--reason", "no delivery connector",
                                       "--note", "recipient endpoint fixed")
        assert done.returncode == 0, done.stderr
        return await consume(kafka.bootstrap, catalogue["referral.status"], 1)

    [status] = await deliver_until(kafka, catalogue, store, InboxConnector(store), replay_then_status)
    assert status.referral_id == delivery.referral_id and status.state.value == "requested"
    await asyncio.sleep(1.0)
    assert await read_topic(kafka.bootstrap, catalogue["referral.status"].full_name, count_only=True) == 1
    with store.transaction() as tx:
        inbox = tx.fetchall("SELECT delivery_id FROM inbox_item")
    store.close()
    assert [i["delivery_id"] for i in inbox] == ["d-1"]
    audits = await consume(kafka.bootstrap, catalogue["audit"], 10, timeout=3.0)
    [replayed] = [a for a in audits if a.kind == AuditKind.REPLAY]
    assert replayed.detail["reason"] == "recipient endpoint fixed"
    assert [e.record_id for e in replayed.entities] == [letter.dead_letter_id]
    assert replayed.entities[0].topic == catalogue["delivery"].full_name
