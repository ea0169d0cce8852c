"""`handoff broker start` keeps its data across restarts (same cluster id, ports, topics) unless
`--wipe`; SIGTERM stops the JVM with it."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.kafka.broker import free_port
from pipeline.kafka.read import read_topic
from pipeline.topics import Catalogue, create_topics
from tests.support.factory import ems_run
from tests.support.kafka import produce

pytestmark = pytest.mark.kafka

HANDOFF = str(Path(sys.executable).parent / "handoff")


def start(tmp_path: Path, port: int, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_KAFKA__EMBEDDED_RUN_DIR"] = str(tmp_path / "broker")
    out = tmp_path / "broker-cli.out"
    proc = subprocess.Popen([HANDOFF, "broker", "start", "--port", str(port), *args], stdout=open(out, "w"),
                            stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while "Ctrl-C stops it" not in out.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0


async def topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


def test_the_broker_starts_again_on_its_data_unless_wiped(tmp_path):
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    catalogue = Catalogue(prefix="kept", partitions=1)
    proc = start(tmp_path, port)
    try:
        asyncio.run(create_topics(bootstrap, catalogue))
        run = ems_run("PCR-KEPT")
        asyncio.run(produce(bootstrap, catalogue["ems.run"], [(run.key, run)]))
    finally:
        stop(proc)
    proc = start(tmp_path, port)
    try:
        assert asyncio.run(read_topic(bootstrap, catalogue["ems.run"].full_name, count_only=True)) == 1
    finally:
        stop(proc)
    proc = start(tmp_path, port, "--wipe")
    try:
        assert catalogue["ems.run"].full_name not in asyncio.run(topics(bootstrap))
    finally:
        stop(proc)
