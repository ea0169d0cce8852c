"""Monitoring on a real broker: lag rises while a consumer group is stopped and falls after it catches up
(the library, `handoff topics lag` and `handoff monitor show`); `/readyz` fails while the broker is down."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from pipeline.health import broker_probe, serve_health
from pipeline.kafka.broker import EmbeddedBroker, free_port
from pipeline.monitor import topic_ends
from tests.support.kafka import produce

ROOT = Path(__file__).resolve().parents[2]
HANDOFF = str(Path(sys.executable).parent / "handoff")


async def _consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> None:
    """A consumer group (standing in for a worker) reads `count` messages and commits."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        seen = 0
        while seen < count:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            seen += sum(len(m) for m in batch.values())
        await consumer.commit()
    finally:
        await consumer.stop()


def _group_lag(bootstrap: str, prefix: str, group: str) -> int:
    ends = asyncio.run(topic_ends(bootstrap, prefix))
    return sum(x.lag for x in ends.lags if x.group == group)


def _cli(*args: str, bootstrap: str, prefix: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HANDOFF_KAFKA__BOOTSTRAP": bootstrap, "HANDOFF_KAFKA__TOPIC_PREFIX": prefix,
           "HANDOFF_STORAGE__URL": f"sqlite:///{tmp / 'handoff.db'}"}
    return subprocess.run([HANDOFF, *args], capture_output=True, text=True, env=env, timeout=60)


def test_lag_rises_while_the_group_is_stopped_and_falls_after(kafka, catalogue, tmp_path):
    topic = next(iter(catalogue))
    group = f"mon-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce(kafka.bootstrap, topic, [(f"k{i}".encode(), b"v") for i in range(4)]))
    asyncio.run(_consume_and_commit(kafka.bootstrap, topic.full_name, group, 4))
    ends = asyncio.run(topic_ends(kafka.bootstrap, catalogue.prefix))
    mine = [x for x in ends.lags if x.group == group]
    assert [(x.partition, x.lag) for x in mine] == [(0, 0), (1, 0)] and sum(x.end for x in mine) == 4
    assert sum(ends.ends.values()) == 4 and len(ends.ends) == 2 * len(list(catalogue))

    # the group is stopped; work keeps arriving
    asyncio.run(produce(kafka.bootstrap, topic, [(f"k{i}".encode(), b"v") for i in range(10)]))
    assert _group_lag(kafka.bootstrap, catalogue.prefix, group) == 10
    shown = _cli("topics", "lag", "--group", group, bootstrap=kafka.bootstrap, prefix=catalogue.prefix, tmp=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"lag {group}: 10" in shown.stdout and topic.full_name in shown.stdout
    exported = _cli("monitor", "show", bootstrap=kafka.bootstrap, prefix=catalogue.prefix, tmp=tmp_path)
    assert exported.returncode == 0, exported.stderr
    lines = [x for x in exported.stdout.splitlines() if x.startswith(f'handoff_consumer_lag{{group="{group}"')]
    assert sum(float(x.rsplit(" ", 1)[1]) for x in lines) == 10.0
    assert 'handoff_monitor_up{source="broker"} 1.0' in exported.stdout
    assert "handoff_oldest_dead_letter_age_seconds 0.0" in exported.stdout  # no dead letter under this prefix

    # it starts again and catches up
    asyncio.run(_consume_and_commit(kafka.bootstrap, topic.full_name, group, 10))
    assert _group_lag(kafka.bootstrap, catalogue.prefix, group) == 0
    after = _cli("topics", "lag", "--group", group, bootstrap=kafka.bootstrap, prefix=catalogue.prefix, tmp=tmp_path)
    assert f"lag {group}: 0" in after.stdout


def test_topics_lag_without_a_broker_is_one_line_and_exit_3(tmp_path):
    shown = _cli("topics", "lag", bootstrap=f"127.0.0.1:{free_port()}", prefix="x", tmp=tmp_path)
    assert shown.returncode == 3 and "Traceback" not in shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1 and "cannot read offsets" in shown.stderr


def test_readyz_fails_while_the_broker_is_down_and_recovers(tmp_path):
    from prometheus_client import CollectorRegistry

    broker = EmbeddedBroker(tmp_path / "broker", heap="256m")
    info = broker.start()
    port = free_port()
    server, _ = serve_health("127.0.0.1", port, CollectorRegistry(), [broker_probe(info.bootstrap)])
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        up = httpx.get(url)
        assert up.status_code == 200 and up.text == "broker ok\n"
        broker.stop()
        down = httpx.get(url)
        assert down.status_code == 503 and down.text.startswith("broker FAIL")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        server.shutdown()
        broker.stop()
