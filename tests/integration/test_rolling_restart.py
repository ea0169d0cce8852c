"""An upgrade as the deployments do it (compose, Kubernetes maxUnavailable 0, systemd): two
`handoff worker` processes in one group, restarted one at a time with SIGTERM while EMS
runs keep arriving. Nothing is lost (every run detected) and nothing doubled (exactly one
detection audit record per run in the stored log)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import pytest

from handoff.demo import feed, sample_runs
from tests.integration.test_worker import Worker, _until_detected, _until_stored

pytestmark = pytest.mark.kafka
RUNS = 48


# Seen here on 2026-12-01 (2 shared cores): a worker that gets SIGTERM while a second member
# is in its group logged "stopped" but had not exited 60 s later (runtime issue 13). Only
# that hang is expected; a lost or doubled record still fails this test.
@pytest.mark.xfail(raises=subprocess.TimeoutExpired, strict=False,
                   reason="handoff worker does not exit within 60 s of SIGTERM beside a second group member")
async def test_a_rolling_restart_during_a_run_loses_and_doubles_nothing(kafka, catalogue, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=kafka.bootstrap,
               HANDOFF_KAFKA__TOPIC_PREFIX=catalogue.prefix, HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{catalogue.prefix}",
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}", HANDOFF_METRICS__PORT="0",
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"))
    runs = sample_runs(RUNS)
    workers = [Worker("a", env, tmp_path), Worker("b", env, tmp_path)]
    started = list(workers)
    try:
        for worker in workers:
            await worker.assigned()

        async def arrivals() -> None:  # the run goes on during the whole restart
            for i in range(0, RUNS, 4):
                await feed(kafka.bootstrap, catalogue, runs[i:i + 4])
                await asyncio.sleep(0.5)

        feeding = asyncio.create_task(arrivals())
        for i, old in enumerate(list(workers)):  # one at a time: the new one consumes before the next stops
            old.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(old.proc.wait, 60) == 0, old.text()
            new = Worker(f"{'ab'[i]}-upgraded", env, tmp_path)
            started.append(new)
            await new.assigned()
            workers[i] = new
        await feeding
        await _until_detected(kafka, catalogue, RUNS)
        stored = await _until_stored(tmp_path / "handoff.db", RUNS)  # asserts one record per audit id too
    finally:
        for worker in started:
            worker.stop()
    assert stored == RUNS
