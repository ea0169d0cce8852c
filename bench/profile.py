"""Profile the pipeline end to end: `python -m bench.profile [runs] [seconds] [spec]`.

One broker, `runs` distinct EMS runs preloaded (default 5,000), the deployment `spec` (as
BENCH_WORKERS: "1" or "split") started as `bench.pipeline.end_to_end` starts it, and py-spy
recording each worker process for `seconds` (default 40) once it has its partitions; the
folded stacks go to .run/profile/<pid>.txt, and the samples not waiting are printed by part
(each stage, Avro, the producer and consumer, faust; `PARTS`). The run then drains and its time
is printed too (slowed by py-spy's sampling; compare only profiles with each other).
py-spy must be installed (`pip install py-spy`); it is not a dependency of the project.
"""
from __future__ import annotations

import asyncio
import collections
import os
import shutil
import sys
from pathlib import Path

from bench.hops import distinct, preload
from bench.pipeline import (ROOT, Worker, _stage_topics, deployment, inbox_directory, message_count, settled_groups,
                            worker_env)
from pipeline.topics import Catalogue, create_topics

IDLE = (".select (selectors", "wait (threading")  # a leaf frame that is waiting, not working
# Where a busy sample goes: the first of these (a substring of a frame) found anywhere in its stack.
PARTS = (("classify_runs", "stage classify-run"), ("route_decide_renders", "stage route-decide-render"),
         ("delivers", "stage deliver"), ("send_batch", "stage deliver"), ("tracks", "stage track"),
         ("report_detections", "stage report-detection"), ("report_requests", "stage report-request"),
         ("sink_audits", "stage audit-sink"), ("store_audits", "stage audit-sink"),
         ("Codec.decode", "Avro decode of a stage's input"), ("Writer.write", "Avro encode of audits and outputs"),
         ("Writer.flush", "producing a batch (writer)"), ("Writer._issue", "producing a batch (writer)"),
         ("StageRunner._write", "building audit records"), ("aiokafka/producer", "producer (aiokafka)"),
         ("faust/transport/producer", "producer (faust)"), ("aiokafka/consumer", "consumer (aiokafka)"),
         ("faust/transport/consumer", "consumer (faust)"), ("faust/", "faust, other"), ("aiokafka/", "aiokafka, other"),
         ("storage/", "database, other"))


def summary(folded: Path) -> list[tuple[str, float]]:
    """The busy samples (not waiting) by part (PARTS), as shares; the rest under its leaf function.
    A stage's share includes its database work (in a thread) only when the thread's stack names it."""
    counts: collections.Counter = collections.Counter()
    busy = 0
    for line in folded.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if any(i in stack.split(";")[-1] for i in IDLE):
            continue
        busy += int(n)
        part = next((name for key, name in PARTS if key in stack), None)
        counts[part or "other: " + stack.split(";")[-1].split(" (")[0]] += int(n)
    return [(name, 100.0 * c / busy) for name, c in counts.most_common(25)] if busy else []


async def per_run(bootstrap: str, cat: Catalogue, n: int) -> None:
    """Messages per run: produced on each topic, and consumed (each topic times the stages reading it)."""
    from pipeline.app import STAGES

    readers = collections.Counter(cat[s.source].full_name for s in STAGES)
    produced = consumed = 0
    for topic in cat:
        count = await message_count(bootstrap, [topic.full_name])
        if count:
            produced += count if topic.name != "ems.run" else 0
            consumed += count * readers[topic.full_name]
            print(f"  {topic.name}: {count} ({count / n:.2f} per run), read by {readers[topic.full_name]} stage(s)")
    print(f"per run: {produced / n:.2f} produced, {consumed / n:.2f} consumed, {(produced + consumed) / n:.2f} in all")


async def profile(bootstrap: str, n: int, seconds: int, spec: str) -> None:
    from handoff.demo import sample_runs
    from handoff.worker import expand

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = ROOT / ".run" / "profile"
    out.mkdir(parents=True, exist_ok=True)
    base = sample_runs(200)
    runs = [distinct(base[i % len(base)], i) for i in range(n)]
    cat = Catalogue(prefix=f"p{os.urandom(4).hex()}")
    await create_topics(bootstrap, cat)
    db = out / f"{cat.prefix}.db"
    env = worker_env(bootstrap, cat, db, inbox_directory(out / "directory.json"))
    sets = deployment(spec)
    groups = {f"g-{cat.prefix}" + (f".{s}" if s else ""): _stage_topics(cat, expand([s]) if s else None)
              for s in sets}
    await preload(bootstrap, cat["ems.run"], runs)
    workers = [await Worker.start(env, s) for s in sets]
    try:
        began = min(await asyncio.gather(*(w.until_assigned() for w in workers)))
        print(f"load {os.getloadavg()[0]:.1f}; profiling {len(workers)} worker(s) for {seconds}s", flush=True)
        spies = [await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(w.proc.pid), "--duration", str(seconds), "--rate", "50", "--nonblocking",
            "--format", "raw", "-o", str(out / f"{w.proc.pid}.txt"), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL) for w in workers]
        await asyncio.gather(*(s.wait() for s in spies))
        done = await settled_groups(bootstrap, groups, timeout=3600, workers=workers) - began
        print(f"{n} runs in {done:.1f}s ({n / done:.1f} runs/s, under py-spy), load {os.getloadavg()[0]:.1f}")
        await per_run(bootstrap, cat, n)
    finally:
        for w in workers:
            await w.stop()
    for w in workers:
        print(f"\nworker {w.proc.pid}: {out / f'{w.proc.pid}.txt'}")
        for name, share in summary(out / f"{w.proc.pid}.txt"):
            print(f"{share:6.1f} %  {name}")


def main(n: int, seconds: int, spec: str) -> None:
    from pipeline.kafka.broker import EmbeddedBroker

    broker = EmbeddedBroker(ROOT / ".run" / f"profile-broker-{os.getpid()}")
    info = broker.start()
    try:
        asyncio.run(profile(info.bootstrap, n, seconds, spec))
    finally:
        broker.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 5000, int(args[1]) if len(args) > 1 else 40, args[2] if len(args) > 2 else "1")
