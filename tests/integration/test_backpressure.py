"""A worker with a backlog on its ingest topic keeps its later stages going (issue 14): classify-run
waits while more than runtime.backlog_limit records wait on the worker's later stages, so
route-decide-render and deliver make progress long before `ems.run` is drained. Before this, with
3,000 runs preloaded, route-decide-render had handled 12 requests when classify-run had taken all
3,000 (one faust consumer and one event loop feed every stage)."""
from __future__ import annotations

import asyncio
import re
import socket
import urllib.request

import pytest

from bench.hops import distinct, preload
from bench.pipeline import Worker, inbox_directory, settled, worker_env
from handoff.demo import sample_runs
from pipeline.app import STAGES

pytestmark = pytest.mark.kafka
RUNS = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _consumed(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r'handoff_stage_consumed_total\{stage="([^"]+)"\} (\S+)', text)}


async def test_later_stages_progress_while_ems_run_has_a_backlog(kafka, catalogue, tmp_path):
    base = sample_runs(200)
    env = worker_env(kafka.bootstrap, catalogue, tmp_path / "handoff.db", inbox_directory(tmp_path / "dir.json"))
    port = _free_port()
    env.update(HANDOFF_RUNTIME__BATCH_SIZE="20", HANDOFF_RUNTIME__BACKLOG_LIMIT="40", HANDOFF_METRICS__PORT=str(port),
               HANDOFF_METRICS__HOST="127.0.0.1")
    await preload(kafka.bootstrap, catalogue["ems.run"], [distinct(base[i % len(base)], i) for i in range(RUNS)])
    worker = await Worker.start(env)
    seen = []  # (classify-run, route-decide-render, deliver) consumed, while ems.run still had a backlog
    try:
        await worker.until_assigned()
        while True:
            worker.check_alive()
            counts = await asyncio.to_thread(_consumed, port)
            if counts.get("classify-run", 0) >= RUNS:
                break
            seen.append((counts.get("classify-run", 0), counts.get("route-decide-render", 0), counts.get("deliver", 0)))
            await asyncio.sleep(0.5)
        topics = sorted({catalogue[s.source].full_name for s in STAGES})
        await settled(kafka.bootstrap, f"g-{catalogue.prefix}", topics, timeout=600, workers=[worker])
    finally:
        await worker.stop()
    classified, routed, delivered = max(seen, key=lambda c: c[0])  # the last look before ems.run was drained
    assert classified < RUNS
    assert routed >= RUNS // 4 and delivered >= RUNS // 8, seen[-5:]
