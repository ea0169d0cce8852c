"""Throughput and latency on one broker, in one run: raw aiokafka, bare faust, the pipeline.

All three consume the same EMS-run bytes and wait for the broker's acknowledgement of
what they produce before moving on (acks=all, idempotent producers), as the stage
wrapper does. Throughput: N records preloaded, time from start to the last output.
Latency: records fed at a steady pace; output broker timestamp minus input timestamp.
"""
from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline import records as r
from pipeline.topics import Catalogue, Topic, create_topics

ROOT = Path(__file__).resolve().parent.parent
BATCH, WITHIN = 1000, 0.02  # the hops' batch: at most this many records, or what came within this many seconds


def _rss_mib() -> float:
    """This process's resident set now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _peak_rss(stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], _rss_mib())
        await asyncio.sleep(0.25)


async def _preload(bootstrap: str, topic: Topic, runs: list[r.EmsRun]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic.full_name, topic.value.encode(run), key=topic.key.encode(run.key))
                   for run in runs]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _paced(bootstrap: str, topic: Topic, runs: list[r.EmsRun], rate: float) -> None:
    """Offer `runs` at `rate` per second on a fixed schedule (a slow acknowledgement does not lower the rate)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        began, pending = time.monotonic(), []
        for i, run in enumerate(runs):
            await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            pending.append(await producer.send(topic.full_name, topic.value.encode(run), key=topic.key.encode(run.key)))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _collect(bootstrap: str, topic_name: str, count: int, timeout: float, keys: set | None = None) -> list:
    """The first `count` messages of a topic (only those with a key in `keys`, if given)."""
    consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    got, deadline = [], time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                got += [m for m in messages if keys is None or m.key in keys]
    finally:
        await consumer.stop()
    if len(got) < count:
        raise TimeoutError(f"{topic_name}: {len(got)} of {count} outputs after {timeout:.0f}s")
    return got


async def _read_all(bootstrap: str, topic_name: str) -> list:
    """Every message now in a topic (all partitions)."""
    consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    got = []
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while True:
            positions = {tp: await consumer.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                break
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                got += messages
    finally:
        await consumer.stop()
    return got


async def _latencies(bootstrap: str, source: Topic, out_topic: str, runs: list[r.EmsRun], rate: float) -> list[float]:
    """Feed `runs` at `rate` per second; per output, its broker timestamp minus its input's."""
    keys = {source.key.encode(run.key) for run in runs}
    feeder = asyncio.create_task(_paced(bootstrap, source, runs, rate))
    outputs = await _collect(bootstrap, out_topic, len(runs), len(runs) / rate + 60, keys)
    await feeder
    sent = {m.key: m.timestamp for m in await _collect(bootstrap, source.full_name, len(runs), 30, keys)}
    return [m.timestamp - sent[m.key] for m in outputs]


async def _status_latencies(bootstrap: str, cat: Catalogue, runs: list[r.EmsRun], rate: float, metrics) -> list[float]:
    """End to end: from a run's ingest to its referral's `referral.status` (sent), by correlation id."""
    source, status = cat["ems.run"], cat["referral.status"]
    before = int(metrics.value(metrics.produced, "deliver"))
    await _paced(bootstrap, source, runs, rate)
    deadline = time.monotonic() + 60
    wanted = {run.envelope.correlation_id for run in runs}
    while time.monotonic() < deadline:  # until the deliveries the latency runs cause have settled
        done = int(metrics.value(metrics.produced, "deliver"))
        await asyncio.sleep(2.0)
        if int(metrics.value(metrics.produced, "deliver")) == done and done > before:
            break
    sent = {m.key: m.timestamp for m in await _collect(bootstrap, source.full_name, len(runs), 30,
                                                        {source.key.encode(run.key) for run in runs})}
    by_corr = {run.envelope.correlation_id: sent[source.key.encode(run.key)] for run in runs}
    statuses = await _read_all(bootstrap, status.full_name)
    lat = []
    for m in statuses:
        value = status.value.decode(m.value)
        if value.envelope.correlation_id in wanted:
            lat.append(m.timestamp - by_corr[value.envelope.correlation_id])
    return lat


# ---------------------------------------------------------------- the three contestants

async def raw_forwarder(bootstrap: str, source: str, target: str, stop: asyncio.Event, group: str) -> None:
    """The baseline: a batch from getmany, every send issued without awaiting each, the
    acknowledgements gathered (acks=all, idempotent), then the offsets committed."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=BATCH)
            if not batch:
                continue
            await asyncio.gather(*[await producer.send(target, m.value, key=m.key)
                                   for messages in batch.values() for m in messages])
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def run_raw(bootstrap: str, cat: Catalogue, n: int, runs: list[r.EmsRun], lat_runs, rate) -> dict:
    source, target = cat["ems.run"], cat["detection"]
    await _preload(bootstrap, source, runs[:n])
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(raw_forwarder(bootstrap, source.full_name, target.full_name, stop, f"raw-{cat.prefix}"))
    await _collect(bootstrap, target.full_name, n, timeout=300)
    seconds = time.perf_counter() - began
    lat = await _latencies(bootstrap, source, target.full_name, lat_runs, rate) if lat_runs else []
    stop.set()
    await task
    return _row("raw aiokafka hop, batched (getmany → send all → gather → commit)", n, seconds, lat)


async def run_faust(bootstrap: str, cat: Catalogue, n: int, runs: list[r.EmsRun], lat_runs, rate) -> dict:
    from pipeline.kafka.faust_app import make_app

    source, target = cat["ems.run"], cat["detection"]
    await _preload(bootstrap, source, runs[:n])
    app = make_app(bootstrap, f"faust-{cat.prefix}")
    topic = app.topic(source.full_name, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="bench.forward")
    async def forward(stream):
        async for events in stream.take_events(BATCH, within=WITHIN):
            await asyncio.gather(*[await app.producer.send(target.full_name, e.message.key, e.message.value, None,
                                                           None, []) for e in events])

    began = time.perf_counter()
    await app.start()
    try:
        await _collect(bootstrap, target.full_name, n, timeout=300)
        seconds = time.perf_counter() - began
        lat = await _latencies(bootstrap, source, target.full_name, lat_runs, rate) if lat_runs else []
    finally:
        await app.stop()
    return _row(f"bare faust hop, stream.take_events({BATCH}, within={WITHIN}), gathered sends", n, seconds, lat)


async def run_pipeline(bootstrap: str, cat: Catalogue, n: int, runs: list[r.EmsRun], lat_runs, rate,
                       tmp: Path) -> dict:
    from connectors.inbox import InboxConnector
    from pipeline.app import Deps, runners
    from pipeline.clock import SystemClock
    from pipeline.kafka.faust_app import FaustSink, attach, make_app
    from pipeline.metrics import Metrics
    from pipeline.settings import Settings
    from pipeline.storage import open_store

    store = open_store(f"sqlite:///{tmp / f'{cat.prefix}.db'}")
    store.migrate()
    deps = Deps.build(Settings(), cat, store, {"inbox": InboxConnector(store)}, SystemClock())
    source, target = cat["ems.run"], cat["detection"]
    await _preload(bootstrap, source, runs[:n])
    app = make_app(bootstrap, f"pipe-{cat.prefix}")
    metrics = Metrics()
    runs_of = runners(deps, FaustSink(app), metrics)
    for runner in runs_of:
        attach(app, runner)
    peak, sampling = [_rss_mib()], asyncio.Event()
    sampler = asyncio.create_task(_peak_rss(sampling, peak))
    began = time.perf_counter()
    await app.start()
    try:
        await _collect(bootstrap, target.full_name, n, timeout=1800)
        while metrics.value(metrics.consumed, "track") < metrics.value(metrics.produced, "deliver") or \
                metrics.value(metrics.consumed, "deliver") < metrics.value(metrics.produced, "route-decide-render") - \
                metrics.value(metrics.held, "refer"):
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - began
        lat = await _status_latencies(bootstrap, cat, lat_runs, rate, metrics) if lat_runs else []
    finally:
        await app.stop()
        store.close()
        sampling.set()
        await sampler
    row = _row("pipeline end to end (ems.run → … → referral.status; latency to the status)", n, seconds, lat)
    row["deliveries"] = int(metrics.value(metrics.produced, "deliver"))
    row["audit_records"] = int(sum(metrics.value(metrics.audited, s.stage.name) for s in runs_of))
    row["peak_rss_mib"] = round(peak[0])  # the one process: worker stages, plus the bench's feeder and collectors
    return row


def _row(name: str, n: int, seconds: float, lat: list[float]) -> dict:
    row = {"name": name, "records": n, "seconds": round(seconds, 2), "records_per_s": round(n / seconds, 1)}
    if lat:
        q = statistics.quantiles(lat, n=100)
        row.update(latency_p50_ms=round(statistics.median(lat), 1), latency_p99_ms=round(q[98], 1))
    return row


def _distinct(run: r.EmsRun, i: int) -> r.EmsRun:
    """A copy of a sample run that is its own incident, person and event."""
    key = r.IncidentKey(dispatch_centre="bench", incident_number=f"B{i}")
    envelope = run.envelope.model_copy(update={"event_id": f"bench:{i}", "source_record_id": f"bench-{i}",
                                               "correlation_id": f"bench-corr-{i}"})
    letters = "".join(chr(ord("a") + int(d)) for d in str(i))  # names are normalised to letters only
    patient = run.patient.model_copy(update={"given": f"{run.patient.given}{letters}"})
    return run.model_copy(update={"key": key, "envelope": envelope, "patient": patient, "pcr_number": f"B{i}"})


async def compare(bootstrap: str, n: int = 20000, pipeline_n: int = 20000, latency_n: int = 500,
                  rate: float = 50.0) -> list[dict]:
    """The hops on `n` preloaded runs, the pipeline on `pipeline_n`; latency of `latency_n` runs offered at `rate`/s.
    Ratios are of records per second against the batched raw hop of this run."""
    from handoff.demo import sample_runs

    base = sample_runs(200)
    total = max(n, pipeline_n)
    runs = [_distinct(base[i % len(base)], i) for i in range(total + latency_n)]
    lat_runs = runs[total:]
    tmp = ROOT / ".run" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    for contestant in (run_raw, run_faust, run_pipeline):
        cat = Catalogue(prefix=f"b{uuid.uuid4().hex[:8]}", partitions=1)
        await create_topics(bootstrap, cat)
        extra = (tmp,) if contestant is run_pipeline else ()
        count = pipeline_n if contestant is run_pipeline else n
        rows.append(await contestant(bootstrap, cat, count, runs, lat_runs, rate, *extra))
        print("  ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    baseline = rows[0]["records_per_s"]
    for row in rows:
        row["ratio_to_raw"] = round(row["records_per_s"] / baseline, 4)
    return rows
