"""A same-run before/after pair of the pipeline end to end: `python -m bench.pair N SPEC A B`.

N distinct runs preloaded (and BENCH_LATENCY_N more offered at 50/s, default 250) for each of
two worker settings, A then B, then A and B again when BENCH_PAIR_TWICE=1; each setting is a
comma-separated list of HANDOFF_* variables ("-" for none), e.g.
`python -m bench.pair 3000 1 - HANDOFF_RUNTIME__BATCH_WITHIN_SECONDS=0.02`; a code version is
chosen with PYTHONPATH (a worktree of it: `PYTHONPATH=/path/to/worktree`). One broker for
all rows; every row is printed with the load average when it ended.
"""
from __future__ import annotations

import asyncio
import os
import sys

from bench.__main__ import ROOT, _show
from bench.hops import distinct
from bench.pipeline import end_to_end
from pipeline.kafka.broker import EmbeddedBroker


def parse(spec: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in spec.split(",") if item and item != "-")


async def pair(bootstrap: str, n: int, deployment: str, settings: list[str]) -> None:
    from handoff.demo import sample_runs

    latency_n = int(os.environ.get("BENCH_LATENCY_N", "250"))
    base = sample_runs(200)
    runs = [distinct(base[i % len(base)], i) for i in range(n + latency_n)]
    tmp = ROOT / ".run" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    for spec in settings * (2 if os.environ.get("BENCH_PAIR_TWICE") == "1" else 1):
        row = await end_to_end(bootstrap, deployment, runs[:n], runs[n:], 50.0, tmp, parse(spec))
        _show({"settings": spec, **{k: row[k] for k in ("records_per_s", "seconds", "latency_p50_ms", "latency_p99_ms", "peak_rss_mib",
                                                        "dead_letters", "inbox_items", "audit_rows") if k in row}})


def main() -> None:
    n, deployment, *settings = sys.argv[1:]
    broker = EmbeddedBroker(ROOT / ".run" / f"pair-broker-{os.getpid()}")
    info = broker.start()
    try:
        asyncio.run(pair(info.bootstrap, int(n), deployment, settings))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
