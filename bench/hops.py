"""The baseline hops (raw aiokafka, bare faust) and the Kafka helpers every bench row uses.

Both hops consume the same EMS-run bytes and wait for the broker's acknowledgement of
what they produce (acks=all, idempotent producers), as the stage wrapper does.
Throughput: N records preloaded, time from start to the last output. Latency: records
fed at a steady pace; output broker timestamp minus input timestamp.
"""
from __future__ import annotations

import asyncio
import statistics
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline import records as r
from pipeline.topics import Catalogue, Topic, create_topics

BATCH, WITHIN = 1000, 0.02  # the hops' batch: at most this many records, or what came within this many seconds


async def preload(bootstrap: str, topic: Topic, runs: list[r.EmsRun]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic.full_name, topic.value.encode(run), key=topic.key.encode(run.key))
                   for run in runs]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def paced(bootstrap: str, topic: Topic, runs: list[r.EmsRun], rate: float) -> None:
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


async def collect(bootstrap: str, topic_name: str, count: int, timeout: float, keys: set | None = None) -> list:
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


async def read_all(bootstrap: str, topic_name: str) -> list:
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


async def latencies(bootstrap: str, source: Topic, out_topic: str, runs: list[r.EmsRun], rate: float) -> list[float]:
    """Feed `runs` at `rate` per second; per output, its broker timestamp minus its input's."""
    keys = {source.key.encode(run.key) for run in runs}
    feeder = asyncio.create_task(paced(bootstrap, source, runs, rate))
    outputs = await collect(bootstrap, out_topic, len(runs), len(runs) / rate + 60, keys)
    await feeder
    sent = {m.key: m.timestamp for m in await collect(bootstrap, source.full_name, len(runs), 30, keys)}
    return [m.timestamp - sent[m.key] for m in outputs]


# ---------------------------------------------------------------- the two hops

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
    await preload(bootstrap, source, runs[:n])
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(raw_forwarder(bootstrap, source.full_name, target.full_name, stop, f"raw-{cat.prefix}"))
    await collect(bootstrap, target.full_name, n, timeout=300)
    seconds = time.perf_counter() - began
    lat = await latencies(bootstrap, source, target.full_name, lat_runs, rate) if lat_runs else []
    stop.set()
    await task
    return make_row("raw aiokafka hop, batched (getmany → send all → gather → commit)", n, seconds, lat)


async def run_faust(bootstrap: str, cat: Catalogue, n: int, runs: list[r.EmsRun], lat_runs, rate) -> dict:
    from pipeline.kafka.faust_app import make_app

    source, target = cat["ems.run"], cat["detection"]
    await preload(bootstrap, source, runs[:n])
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
        await collect(bootstrap, target.full_name, n, timeout=300)
        seconds = time.perf_counter() - began
        lat = await latencies(bootstrap, source, target.full_name, lat_runs, rate) if lat_runs else []
    finally:
        await app.stop()
    return make_row(f"bare faust hop, stream.take_events({BATCH}, within={WITHIN}), gathered sends", n, seconds, lat)


def make_row(name: str, n: int, seconds: float, lat: list[float]) -> dict:
    row = {"name": name, "records": n, "seconds": round(seconds, 2), "records_per_s": round(n / seconds, 1)}
    if lat:
        q = statistics.quantiles(lat, n=100)
        row.update(latency_p50_ms=round(statistics.median(lat), 1), latency_p99_ms=round(q[98], 1))
    return row


def distinct(run: r.EmsRun, i: int) -> r.EmsRun:
    """A copy of a sample run that is its own incident, person and event."""
    key = r.IncidentKey(dispatch_centre="bench", incident_number=f"B{i}")
    envelope = run.envelope.model_copy(update={"event_id": f"bench:{i}", "source_record_id": f"bench-{i}",
                                               "correlation_id": f"bench-corr-{i}"})
    letters = "".join(chr(ord("a") + int(d)) for d in str(i))  # names are normalised to letters only
    patient = run.patient.model_copy(update={"given": f"{run.patient.given}{letters}"})
    return run.model_copy(update={"key": key, "envelope": envelope, "patient": patient, "pcr_number": f"B{i}"})
