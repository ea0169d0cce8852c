"""`handoff worker --stages` through the installed console script on the real broker: a worker whose
set overlaps a running worker's set is refused in one line (exit 4) before it joins anything; a
disjoint set runs beside it; several sets start beside each other (each checks the others' groups
before and after it joins)."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_worker import Worker, _seen, worker_env

pytestmark = pytest.mark.kafka
HANDOFF = str(Path(sys.executable).parent / "handoff")


async def test_overlapping_stage_sets_are_refused_and_disjoint_ones_run(kafka, catalogue, tmp_path):
    env = worker_env(kafka, catalogue, tmp_path)
    first = Worker("first", env, tmp_path, "--stages", "classify-run,deliver")
    workers = [first]
    try:
        await first.assigned()
        started = time.monotonic()
        refused = subprocess.run([HANDOFF, "worker", "--stages", "deliver,track"], env=env, capture_output=True,
                                 text=True, timeout=120)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 4, refused.stderr
        assert lines[-1] == (f"handoff: stage(s) deliver already run in consumer group g-{catalogue.prefix}"
                             ".classify-run+deliver (1 member(s)): overlapping --stages sets would process their "
                             "records twice; give every worker that runs a stage the same set"), refused.stderr
        assert "Traceback" not in refused.stderr and "joining consumer group" not in refused.stderr
        print(f"\noverlapping set refused in {time.monotonic() - started:.1f}s")

        disjoint = Worker("disjoint", env, tmp_path, "--stages", "track,audit-sink")
        workers.append(disjoint)
        await _seen(disjoint, "worker started")  # past its second overlap check, made once it joined
        assert first.proc.poll() is None and disjoint.proc.poll() is None
    finally:
        for worker in workers:
            worker.stop()


async def test_stage_sets_start_while_other_sets_groups_exist(kafka, catalogue, tmp_path):
    """Three disjoint sets started one after another: the second sees two groups of the deployment
    once it joined, the third sees three. aiokafka 0.14 decodes a DescribeGroups v3 answer with the
    v2 schema, so describing two groups in one request failed and the worker exited 3 "the broker
    is unavailable: … Connection … closed" (pipeline/kafka/groups.py)."""
    env = worker_env(kafka, catalogue, tmp_path)
    workers = []
    try:
        for name, stages in (("ingest", "classify-run"), ("routing", "route-decide-render"),
                             ("sink", "audit-sink")):
            worker = Worker(name, env, tmp_path, "--stages", stages)
            workers.append(worker)
            await _seen(worker, "worker started")
        assert [w.proc.poll() for w in workers] == [None, None, None], [w.text() for w in workers]
        assert not any("broker is unavailable" in w.text() for w in workers)
    finally:
        for worker in workers:
            worker.stop()


BACKLOG = 1000  # runs preloaded: about 10 s of classify-run alone here, several times a worker's stream buffer


async def test_split_deployment_routes_while_ems_runs_are_backlogged(kafka, catalogue, tmp_path):
    """The split deployment (`--stages referrals` and `--stages ingest`, README "Performance") runs
    the whole pipeline in two groups, and with a backlog on ems.run route-decide-render handles
    referral requests before the ingest group has taken the backlog, and routes them all.
    This backlog is below faust's stream buffer (4,096), where one worker of every stage keeps up as
    well (checked by hand: 326); the starvation of one worker appears beyond it, and is measured by
    `make bench` (README), not here: a CI test cannot afford 20,000 runs."""
    from bench.hops import distinct, preload
    from bench.pipeline import message_count, settled
    from handoff.demo import sample_runs

    base = sample_runs(200)
    await preload(kafka.bootstrap, catalogue["ems.run"], [distinct(base[i % len(base)], i) for i in range(BACKLOG)])
    env = worker_env(kafka, catalogue, tmp_path)
    workers = []
    try:
        for name in ("referrals", "ingest"):  # the referral path first: it waits for requests
            workers.append(Worker(name, env, tmp_path, "--stages", name))
            await _seen(workers[-1], "worker started")
        group = f"g-{catalogue.prefix}"
        ingested, routed = await _until_ingested(kafka.bootstrap, catalogue, group)
        print(f"\nroute-decide-render committed {routed} referral requests before ingest took all {BACKLOG} runs")
        # while the backlog lasted the referral path was already routing: how many depends on how fast
        # the ingest set took 1,000 runs (17 on a quiet machine, ~400 at load 8), so only "some" is asserted
        assert routed >= 1, (ingested, routed)
        # then every request the backlog made is routed: the referral group commits the topic's end offsets
        await settled(kafka.bootstrap, f"{group}.referrals", [catalogue["referral.request"].full_name], 120)
        assert await message_count(kafka.bootstrap, [catalogue["referral.request"].full_name]) >= 100
        assert all(w.proc.poll() is None for w in workers), [w.text() for w in workers]
    finally:
        for worker in workers:
            worker.stop()


async def _until_ingested(bootstrap: str, catalogue, base: str, timeout: float = 240.0) -> tuple[int, int]:
    """Poll (every 0.5 s) the ingest group's committed ems.run offsets and the referrals group's
    referral.request ones until the former reach BACKLOG: (ingested, routed) at that moment."""
    from aiokafka.admin import AIOKafkaAdminClient
    from bench.pipeline import committed_total

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ingested = await committed_total(admin, f"{base}.ingest", catalogue["ems.run"].full_name)
            routed = await committed_total(admin, f"{base}.referrals", catalogue["referral.request"].full_name)
            if ingested >= BACKLOG:
                return ingested, routed
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise AssertionError(f"the ingest group took fewer than {BACKLOG} runs within {timeout:.0f}s")

