"""`handoff worker` processes on the real broker: restart and takeover times, and two workers in
one group sharing the partitions while one is SIGKILLed, with nothing lost or doubled."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.app import STAGES
from pipeline.kafka.read import read_topic
from handoff.demo import feed, sample_runs
from pipeline.storage import open_store

pytestmark = pytest.mark.kafka

HANDOFF = str(Path(sys.executable).parent / "handoff")
CONSUMING = re.compile(r"consuming: (\d+) partition")
HEALTH = re.compile(r"health on (http://\S+)/healthz")


def worker_env(kafka, catalogue, tmp_path: Path) -> dict:
    """A worker's environment on the test broker: its own topic prefix, group and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=kafka.bootstrap,
               HANDOFF_KAFKA__TOPIC_PREFIX=catalogue.prefix, HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{catalogue.prefix}",
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}", HANDOFF_METRICS__PORT="0",
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"))
    return env


class Worker:
    """One `handoff worker` process and its log."""

    def __init__(self, name: str, env: dict, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / f"{name}.log"
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen([HANDOFF, "worker", *args], stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT, env=env)

    def text(self) -> str:
        return self.log.read_text()

    async def assigned(self, after: int = 0, want=lambda n: n > 0, timeout: float = 90.0) -> tuple[float, int]:
        """Wait for the first 'consuming: N partition(s)' line past `after` chars with want(N); (time, N)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.text()
            for match in CONSUMING.finditer(self.text(), after):
                if want(int(match[1])):
                    return time.monotonic(), int(match[1])
            await asyncio.sleep(0.1)
        raise AssertionError(f"no assignment within {timeout}s:\n{self.text()}")

    def health_url(self) -> str:
        """http://host:port of the worker's /healthz, /readyz, /metrics (it logs them first thing)."""
        match = HEALTH.search(self.text())
        assert match, self.text()
        return match[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def test_restart_takeover_and_two_workers_sharing_the_work(kafka, catalogue, tmp_path):
    env = worker_env(kafka, catalogue, tmp_path)
    total = sum(catalogue[source].partitions for source in {s.source for s in STAGES})  # every stage runs
    runs = sample_runs(60)
    workers: list[Worker] = []
    try:
        first = Worker("first", env, tmp_path)
        workers.append(first)
        await first.assigned()
        await feed(kafka.bootstrap, catalogue, runs[:20])
        await _until_detected(kafka, catalogue, 20)

        # a restart: SIGTERM (LeaveGroup), then a new process consumes again
        stopping = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(60) == 0, first.text()
        stop_s = time.monotonic() - stopping
        again = Worker("again", env, tmp_path)
        workers.append(again)
        ready = await _seen(again, "joining consumer group")
        at, _ = await again.assigned()
        restart_s, join_s = at - again.spawned, at - ready
        await feed(kafka.bootstrap, catalogue, runs[20:30])
        consumed_s = await _until_detected(kafka, catalogue, 30) - again.spawned

        # scale out: a second worker in the group; the partitions are shared
        mark = len(again.text())
        second = Worker("second", env, tmp_path)
        workers.append(second)
        _, second_n = await second.assigned()
        _, again_n = await again.assigned(mark, want=lambda n: n < total)
        assert second_n + again_n == total and 0 < second_n < total
        await feed(kafka.bootstrap, catalogue, runs[30:])
        await _until_detected(kafka, catalogue, 40)

        # SIGKILL one: no LeaveGroup; the survivor takes its partitions after the session timeout
        mark = len(again.text())
        second.proc.kill()
        killed = time.monotonic()
        taken, n = await again.assigned(mark, want=lambda n: n == total)
        takeover_s = taken - killed
        await _until_detected(kafka, catalogue, 60)
        stored = await _until_stored(tmp_path / "handoff.db", 60)
    finally:
        for worker in workers:
            worker.stop()
    print(f"\nworker stop on SIGTERM {stop_s:.1f}s; restart: process start → consuming {restart_s:.1f}s "
          f"(group join {join_s:.1f}s), first record out {consumed_s:.1f}s after the start; "
          f"SIGKILLed worker's {second_n} partitions taken over in {takeover_s:.1f}s "
          f"(session timeout 10s); detection audit records stored {stored} of 60")
    assert join_s < 10 and takeover_s < 20
    detections = await read_topic(kafka.bootstrap, catalogue["detection"].full_name)
    subjects = [catalogue["detection"].value.decode(m.value).subject.record_id for m in detections]
    assert set(subjects) == {run.envelope.source_record_id for run in runs}  # nothing lost
    print(f"detection messages {len(subjects)} for 60 runs ({len(subjects) - 60} redelivered after the kill, "
          "same ids: dropped downstream)")


async def _until_detected(kafka, catalogue, count: int, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detections = await read_topic(kafka.bootstrap, catalogue["detection"].full_name)
        if len({catalogue["detection"].value.decode(m.value).subject.record_id for m in detections}) >= count:
            return time.monotonic()
        await asyncio.sleep(0.3)
    raise AssertionError(f"fewer than {count} runs detected within {timeout}s")


async def _until_stored(db: Path, count: int, timeout: float = 120.0) -> int:
    """The audit sink's stored log: exactly one detection record per run (none lost, none doubled)."""
    store = open_store(f"sqlite:///{db}")
    try:
        deadline, n = time.monotonic() + timeout, -1
        while time.monotonic() < deadline:
            with store.transaction() as tx:
                n = tx.fetchone("SELECT COUNT(*) AS n FROM audit_record WHERE kind = 'detection'")["n"]
                distinct = tx.fetchone("SELECT COUNT(DISTINCT audit_id) AS n FROM audit_record")["n"]
                rows = tx.fetchone("SELECT COUNT(*) AS n FROM audit_record")["n"]
            assert distinct == rows  # no audit record stored twice
            if n >= count:
                assert n == count
                return n
            await asyncio.sleep(0.5)
        raise AssertionError(f"{n} detection audit records stored, want {count}")
    finally:
        store.close()


async def _seen(worker: Worker, text: str, timeout: float = 90.0) -> float:
    """When the test first saw `text` in the worker's log (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while text not in worker.text():
        assert worker.proc.poll() is None and time.monotonic() < deadline, worker.text()
        await asyncio.sleep(0.05)
    return time.monotonic()
