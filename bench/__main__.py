"""`make bench`: start one broker, run every benchmark, print a table and the ratios.

Sizes (environment): BENCH_N runs for the hops (20,000), BENCH_PIPELINE_N for the pipeline end
to end (20,000), BENCH_LATENCY_N runs offered at 50/s for latency (500), BENCH_WORKERS worker
processes for the end-to-end row, or `split` (one `--stages ingest` and one `--stages referrals`
process), comma-separated for several rows ("1,split"), BENCH_STAGE_N runs
for the stages-alone rows (5,000; 0 skips them), BENCH_DELIVER_N deliveries for the deliver stage
alone (bench/deliver.py: 5,000 to the inbox, BENCH_DELIVER_MLLP_N 1,000 to an MLLP receiver; 0
skips). Every Kafka row's `ratio_to_raw` is its
records per second over the batched raw hop's of this run. The machine's load average is
printed before and after (a shared machine slows every row alike, not the ratios).

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


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + f", {os.cpu_count()} cores"


def _show(row: dict) -> None:
    row.setdefault("load_1m", round(os.getloadavg()[0], 1))  # the machine's load when the row ended
    print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)


async def compare(bootstrap: str, rate: float = 50.0) -> list[dict]:
    """The hops, the pipeline end to end and the stages alone, with ratios to the batched raw hop."""
    from bench.hops import distinct, run_faust, run_raw
    from bench.pipeline import end_to_end, stages_alone
    from handoff.demo import sample_runs
    from pipeline.topics import Catalogue, create_topics

    n, pipeline_n, latency_n = int(_env("BENCH_N", "20000")), int(_env("BENCH_PIPELINE_N", "20000")), \
        int(_env("BENCH_LATENCY_N", "500"))
    stage_n = int(_env("BENCH_STAGE_N", "5000"))
    base = sample_runs(200)
    runs = [distinct(base[i % len(base)], i) for i in range(max(n, pipeline_n, stage_n) + latency_n)]
    lat_runs = runs[-latency_n:] if latency_n else []
    tmp = ROOT / ".run" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    for hop in (run_raw, run_faust):
        cat = Catalogue(prefix=f"h{os.urandom(4).hex()}", partitions=1)
        await create_topics(bootstrap, cat)
        rows.append(await hop(bootstrap, cat, n, runs, lat_runs, rate))
        _show(rows[-1])
    for spec in [w.strip() for w in _env("BENCH_WORKERS", "1,split").split(",")]:
        rows.append(await end_to_end(bootstrap, spec, runs[:pipeline_n], lat_runs, rate, tmp))
        _show(rows[-1])
    if stage_n:
        for row in await stages_alone(bootstrap, runs[:stage_n], tmp):
            rows.append(row)
            _show(row)
    baseline = rows[0]["records_per_s"]
    for row in rows:
        row["ratio_to_raw"] = round(row["records_per_s"] / baseline, 4)
    return rows


def main() -> None:
    print(_load(), flush=True)
    rows: list[dict] = []
    for name in OFFLINE:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            print(f"(skipping {name}: {e})")
            continue
        for row in module.run():
            _show(row)
            rows.append(row)
    broker = EmbeddedBroker(ROOT / ".run" / f"bench-broker-{os.getpid()}")
    info = broker.start()
    print(f"Kafka {info.version} at {info.bootstrap}, ready in {info.start_seconds:.1f}s, RSS {info.rss_mib:.0f} MiB")
    try:
        from bench.mllp import run as mllp_run

        kafka_rows = asyncio.run(compare(info.bootstrap))
        kafka_rows += asyncio.run(mllp_run(info.bootstrap))
        from bench.alerts import run as alerts_run

        kafka_rows += asyncio.run(alerts_run(info.bootstrap, int(os.environ.get("BENCH_ALERT_CALLS", "200"))))
        if int(_env("BENCH_DELIVER_N", "5000")):  # the deliver stage alone (bench/deliver.py), its own raw baseline
            from bench.deliver import run as deliver_run

            kafka_rows += asyncio.run(deliver_run(info.bootstrap))
    finally:
        broker.stop()
    print()
    for row in kafka_rows:
        _show(row)
    print(_load())
    rows += kafka_rows
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
