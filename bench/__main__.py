"""`make bench`: start one broker, run every benchmark, print a table and the ratios.

Results are also written to bench/results/latest.json (ignored by git).
"""
from __future__ import annotations

import asyncio
import importlib
import json
import os
from pathlib import Path

from pipeline.kafka.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parent.parent
# Benchmarks without a broker: modules with run() -> list[dict] (records per second per core).
OFFLINE = ["bench.parsers", "bench.detect", "bench.render"]


def main() -> None:
    rows: list[dict] = []
    for name in OFFLINE:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            print(f"(skipping {name}: {e})")
            continue
        for row in module.run():
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            rows.append(row)
    broker = EmbeddedBroker(ROOT / ".run" / f"bench-broker-{os.getpid()}")
    info = broker.start()
    print(f"Kafka {info.version} at {info.bootstrap}, ready in {info.start_seconds:.1f}s, RSS {info.rss_mib:.0f} MiB")
    try:
        from bench.pipeline import compare

        n = int(os.environ.get("BENCH_N", "20000"))
        from bench.mllp import run as mllp_run

        kafka_rows = asyncio.run(compare(info.bootstrap, n=n, pipeline_n=int(os.environ.get("BENCH_PIPELINE_N", n)),
                                         latency_n=int(os.environ.get("BENCH_LATENCY_N", "500"))))
        kafka_rows += asyncio.run(mllp_run(info.bootstrap))
        from bench.alerts import run as alerts_run

        kafka_rows += asyncio.run(alerts_run(info.bootstrap, int(os.environ.get("BENCH_ALERT_CALLS", "200"))))
    finally:
        broker.stop()
    for row in kafka_rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    rows += kafka_rows
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
