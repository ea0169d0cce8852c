"""An upgrade as the deployments do it (compose, Kubernetes maxUnavailable 0, systemd): two
`handoff worker` processes in one group, restarted one at a time with SIGTERM while EMS runs
keep arriving. Each stop is graceful (exit 0, bounded); nothing is lost (every run detected),
nothing doubled (exactly one detection audit record per run in the stored log, one audit
record per id); the other worker's /readyz stays 200 the whole time."""
from __future__ import annotations

import asyncio
import signal
import time
import urllib.error
import urllib.request

import pytest

from handoff.demo import feed, sample_runs
from tests.integration.test_worker import Worker, worker_env, _until_detected, _until_stored

pytestmark = pytest.mark.kafka
MAX_RUNS = 200  # the feed goes on until both restarts are done (2 runs a second), at most this many


async def test_a_rolling_restart_during_a_run_loses_and_doubles_nothing(kafka, catalogue, tmp_path):
    env = worker_env(kafka, catalogue, tmp_path)
    runs = sample_runs(MAX_RUNS)
    workers = [Worker("a", env, tmp_path), Worker("b", env, tmp_path)]
    started = list(workers)
    restarted = asyncio.Event()
    fed = 0
    stops: list[float] = []
    try:
        for worker in workers:
            await worker.assigned()
            await _until_ready(worker)

        async def arrivals() -> None:  # a steady feed during the whole rolling restart
            nonlocal fed
            while not restarted.is_set() and fed < MAX_RUNS:
                await feed(kafka.bootstrap, catalogue, runs[fed:fed + 2])
                fed += 2
                await asyncio.sleep(1.0)

        feeding = asyncio.create_task(arrivals())
        await asyncio.sleep(2)
        for i, old in enumerate(list(workers)):  # one at a time: the new one is ready before the next stops
            other = workers[1 - i]
            restarted_one = asyncio.Event()
            watching = asyncio.create_task(_readiness_while(other, restarted_one))
            stopping = time.monotonic()
            old.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(old.proc.wait, 45) == 0, old.text()
            stops.append(time.monotonic() - stopping)
            assert "Crashed" not in old.text() and "Traceback" not in old.text(), old.text()
            new = Worker(f"{'ab'[i]}-upgraded", env, tmp_path)
            started.append(new)
            await new.assigned()
            await _until_ready(new)
            restarted_one.set()
            polls, failures = await watching
            assert polls > 0 and not failures, f"{other.log.name} not ready during the restart: {failures[:3]}"
            workers[i] = new
            await asyncio.sleep(2)  # under load before the next one goes
        assert not feeding.done(), f"the feed ({fed} runs) ended before the restarts did: raise MAX_RUNS"
        restarted.set()
        await feeding
        await _until_detected(kafka, catalogue, fed)
        stored = await _until_stored(tmp_path / "handoff.db", fed)  # asserts one record per audit id too
    finally:
        for worker in started:
            worker.stop()
    print(f"\nrolling restart: {fed} runs fed during it; SIGTERM → exit {', '.join(f'{s:.1f}s' for s in stops)}; "
          f"detection audit records stored {stored} of {fed}")
    assert stored == fed


async def _until_ready(worker: Worker, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _readyz(worker)[0] != 200:
        assert time.monotonic() < deadline, f"/readyz not 200 within {timeout}s: {_readyz(worker)}"
        await asyncio.sleep(0.2)


async def _readiness_while(worker: Worker, done: asyncio.Event) -> tuple[int, list[str]]:
    """Poll the worker's /readyz every 0.2 s until `done`; (polls, failures)."""
    polls, failures = 0, []
    while not done.is_set():
        status, body = await asyncio.to_thread(_readyz, worker)
        polls += 1
        if status != 200:
            failures.append(f"{status} {body.strip()}")
        await asyncio.sleep(0.2)
    return polls, failures


def _readyz(worker: Worker) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{worker.health_url()}/readyz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
