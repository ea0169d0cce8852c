"""Dispatch-time alert latency (issue 20): from the EIDO POST's acknowledgement by the HTTP intake
to the co-responder team's webhook call, on the real path (tests/support/alerts.py: uvicorn with
TLS, the broker, classify-incident and send-alert through faust, the webhook connector, a real
HTTPS receiver checking the signature). Calls are offered open-loop at a fixed rate, each a new
suicide-risk incident; the baseline is the same path at 1 call/s in the same run. The machine's
load (`uptime`) is printed beside the rows: the target (p95 < 5 s at 10 calls/s) means little
on a machine that is busy with something else.

`.venv/bin/python -m bench.alerts` starts its own broker and prints the rows.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from connectors.cad.samples import crisis_call
from pipeline.topics import Catalogue, create_topics
from tests.support.alerts import TEAM, running
from tests.support.edges import make_certs


async def _offer(rig, rate: float, count: int, tag: str) -> tuple[list[float], float]:
    """Post `count` new calls at `rate` per second: seconds from each acknowledgement to its webhook
    call, and this process's CPU seconds per call (the client, the intake, the stages and the
    receiver all run in it; the broker does not)."""
    team = rig.peers[TEAM]
    acked: dict[str, float] = {}
    at = datetime.now(timezone.utc).replace(microsecond=0)

    async def one(i: int) -> None:
        number = f"{tag}-{i:05d}"
        await rig.post(crisis_call(number, at))
        acked[number] = time.time()

    start, cpu = time.monotonic(), time.process_time()
    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + 120
    while sum(1 for a in team.accepted if json.loads(a.body)["incident_number"].startswith(tag)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only part of the {count} alerts arrived")
        await asyncio.sleep(0.05)
    arrived = {json.loads(a.body)["incident_number"]: a.at for a in team.accepted}
    return sorted(arrived[n] - acked[n] for n in acked), (time.process_time() - cpu) / count


def _row(name: str, measured: tuple[list[float], float], rate: float, load: str) -> dict:
    seconds, cpu = measured
    p = lambda q: seconds[min(len(seconds) - 1, int(q * len(seconds)))]  # noqa: E731
    return {"name": name, "calls": len(seconds), "offered_per_s": rate, "p50_ms": round(p(0.50) * 1000),
            "p95_ms": round(p(0.95) * 1000), "max_ms": round(seconds[-1] * 1000),
            "cpu_ms_per_call": round(cpu * 1000, 1), "load": load}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


async def run(bootstrap: str, calls: int = 200, rate: float = 10.0) -> list[dict]:
    catalogue = Catalogue(prefix=f"bench{uuid.uuid4().hex[:8]}", partitions=6)
    await create_topics(bootstrap, catalogue)
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(Path(tmp) / "certs")
        async with running(bootstrap, catalogue, certs, Path(tmp)) as rig:
            await _offer(rig, 2.0, 5, "warm")  # metadata, connections, the consumer groups settled
            base = await _offer(rig, 1.0, 10, "base")
            base_load = _uptime()
            before = rig.unavailable
            loaded = await _offer(rig, rate, calls, "load")
            load = _uptime()
            resent = rig.unavailable - before
    rows = [_row("alert: EIDO ack → webhook (baseline)", base, 1.0, base_load),
            _row(f"alert: EIDO ack → webhook ({rate:g} calls/s)", loaded, rate, load)]
    rows[1]["p95_vs_baseline"] = round(rows[1]["p95_ms"] / max(rows[0]["p95_ms"], 1), 2)
    rows[1]["target_p95_ms"] = 5000
    rows[1]["intake_503_resent"] = resent  # the broker did not commit within edges.commit_timeout
    return rows


if __name__ == "__main__":
    import os

    from bench import alone

    alone("alerts", lambda bootstrap: run(bootstrap, int(os.environ.get("BENCH_ALERT_CALLS", "200"))))
