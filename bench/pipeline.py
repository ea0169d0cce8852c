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
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for run in runs:
            await producer.send_and_wait(topic.full_name, topic.value.encode(run), key=topic.key.encode(run.key))
            await asyncio.sleep(1 / rate)
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
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=True)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=100)).values():
                for m in messages:
                    await producer.send_and_wait(target, m.value, key=m.key)
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
    return _row("raw aiokafka consume-and-produce", n, seconds, lat)


async def run_faust(bootstrap: str, cat: Catalogue, n: int, runs: list[r.EmsRun], lat_runs, rate) -> dict:
    from pipeline.kafka.faust_app import make_app

    source, target = cat["ems.run"], cat["detection"]
    await _preload(bootstrap, source, runs[:n])
    app = make_app(bootstrap, f"faust-{cat.prefix}")
    topic = app.topic(source.full_name, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="bench.forward")
    async def forward(stream):
        async for event in stream.events():
            await app.producer.send_and_wait(target.full_name, event.message.key, event.message.value, None, None, [])

    began = time.perf_counter()
    await app.start()
    try:
        await _collect(bootstrap, target.full_name, n, timeout=300)
        seconds = time.perf_counter() - began
        lat = await _latencies(bootstrap, source, target.full_name, lat_runs, rate) if lat_runs else []
    finally:
        await app.stop()
    return _row("bare faust forwarding agent", n, seconds, lat)


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
    for runner in runners(deps, FaustSink(app), metrics):
        attach(app, runner)
    began = time.perf_counter()
    await app.start()
    try:
        await _collect(bootstrap, target.full_name, n, timeout=600)
        while metrics.value(metrics.consumed, "track") < metrics.value(metrics.produced, "deliver") or \
                metrics.value(metrics.consumed, "deliver") < metrics.value(metrics.produced, "route-decide-render") - \
                metrics.value(metrics.held, "refer"):
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - began
        lat = await _status_latencies(bootstrap, cat, lat_runs, rate, metrics) if lat_runs else []
    finally:
        await app.stop()
        store.close()
    row = _row("pipeline end to end (ems.run → … → referral.status; latency to the status)", n, seconds, lat)
    row["deliveries"] = int(metrics.value(metrics.produced, "deliver"))
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


async def compare(bootstrap: str, n: int = 2000, latency_n: int = 100, rate: float = 20.0) -> list[dict]:
    from handoff.demo import sample_runs

    base = sample_runs(200)
    runs = [_distinct(base[i % len(base)], i) for i in range(n + latency_n)]
    lat_runs = runs[n:]
    tmp = ROOT / ".run" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    for contestant in (run_raw, run_faust, run_pipeline):
        cat = Catalogue(prefix=f"b{uuid.uuid4().hex[:8]}", partitions=1)
        await create_topics(bootstrap, cat)
        extra = (tmp,) if contestant is run_pipeline else ()
        rows.append(await contestant(bootstrap, cat, n, runs, lat_runs, rate, *extra))
    baseline = rows[0]["records_per_s"]
    for row in rows:
        row["ratio_to_raw"] = round(row["records_per_s"] / baseline, 3)
    return rows
