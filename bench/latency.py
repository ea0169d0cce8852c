"""Where the latency goes, hop by hop: `python -m bench.latency [runs] [rate] [spec] [SETTING=...,...]`.

One broker, one deployment (as BENCH_WORKERS: "1" or "split"; optional HANDOFF_* settings) started
on a warm-up of 100 runs; then `runs` distinct EMS runs (default 250) offered at `rate` per
second (default 50). For each topic on the way (ems.run → detection, referral.request →
delivery → referral.status) and each run's correlation id, the broker time of the first record;
printed: p50 and p99 of the time from the run's `ems.run` record to each topic's, so the hop
that adds the time shows. The audit records of the same runs are shown too (the audit sink
is beside the stages in one worker, competing for the same loop and database).
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys

from bench.hops import distinct, paced, preload, read_all
from bench.pair import parse
from bench.pipeline import ROOT, Worker, _stage_topics, deployment, inbox_directory, settled_groups, worker_env
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.topics import Catalogue, create_topics

HOPS = ("ems.run", "detection", "referral.request", "delivery", "referral.status", "audit")


def quantiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    q = statistics.quantiles(values, n=100)
    return f"p50 {statistics.median(values):7.0f} ms  p99 {q[98]:7.0f} ms  max {max(values):7.0f} ms  n={len(values)}"


async def firsts(bootstrap: str, cat: Catalogue, wanted: set[str]) -> dict[str, dict[str, int]]:
    """Per hop: correlation id -> the broker time of its first record there."""
    out: dict[str, dict[str, int]] = {}
    for hop in HOPS:
        topic, seen = cat[hop], {}
        for m in await read_all(bootstrap, topic.full_name):
            value = topic.value.decode(m.value)
            envelope = getattr(value, "envelope", None)
            corr = envelope.correlation_id if envelope is not None else getattr(value, "correlation_id", "")
            if corr in wanted:
                seen[corr] = min(m.timestamp, seen.get(corr, m.timestamp))
        out[hop] = seen
    return out


async def measure(bootstrap: str, n: int, rate: float, spec: str, settings: dict[str, str]) -> None:
    from handoff.demo import sample_runs
    from handoff.worker import expand

    base = sample_runs(200)
    runs = [distinct(base[i % len(base)], i) for i in range(100 + n)]
    cat = Catalogue(prefix=f"l{os.urandom(4).hex()}")
    await create_topics(bootstrap, cat)
    tmp = ROOT / ".run" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    env = worker_env(bootstrap, cat, tmp / f"{cat.prefix}.db", inbox_directory(tmp / "directory.json")) | settings
    sets = deployment(spec)
    groups = {f"g-{cat.prefix}" + (f".{s}" if s else ""): _stage_topics(cat, expand([s]) if s else None) for s in sets}
    await preload(bootstrap, cat["ems.run"], runs[:100])
    workers = [await Worker.start(env, s) for s in sets]
    try:
        await asyncio.gather(*(w.until_assigned() for w in workers))
        await settled_groups(bootstrap, groups, timeout=600, workers=workers)
        await paced(bootstrap, cat["ems.run"], runs[100:], rate)
        await settled_groups(bootstrap, groups, timeout=600, workers=workers)
    finally:
        for w in workers:
            await w.stop()
    wanted = {run.envelope.correlation_id for run in runs[100:]}
    seen = await firsts(bootstrap, cat, wanted)
    print(f"{n} runs at {rate:g}/s, {spec} {settings or ''}; load {os.getloadavg()[0]:.1f}")
    for hop in HOPS[1:]:
        print(f"  ems.run -> {hop:17s} " + quantiles([seen[hop][c] - seen["ems.run"][c] for c in seen[hop]
                                                       if c in seen["ems.run"]]))


def main() -> None:
    args = sys.argv[1:]
    broker = EmbeddedBroker(ROOT / ".run" / f"latency-broker-{os.getpid()}")
    info = broker.start()
    try:
        asyncio.run(measure(info.bootstrap, int(args[0]) if args else 250, float(args[1]) if len(args) > 1 else 50.0,
                            args[2] if len(args) > 2 else "1", parse(args[3]) if len(args) > 3 else {}))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
