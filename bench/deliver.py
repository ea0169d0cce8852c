"""The deliver stage alone: deliveries/s to Handoff's inbox and to a real MLLP receiver on loopback.

`run(bootstrap)` (a part of `make bench`; alone: `.venv/bin/python -m bench.deliver`) preloads
BENCH_DELIVER_N distinct deliveries (each its own referral; BENCH_DELIVER_MLLP_N for the MLLP rows, one per number of connections in
BENCH_DELIVER_MLLP_CONNECTIONS, "1,4")
on a fresh `delivery` topic and database, then runs the real deliver stage (pipeline/app.py:
`runners(..., names=["deliver"])`, the faust consume loop of a worker, its batch size) in this
process until every delivery's `referral.status` is acknowledged by the broker. The clock starts
when the stage was handed its first batch (the group join is left out) and stops at the last status'
acknowledgement. The MLLP receiver (connectors/peers/mllp.py) runs in a process of its own, so its
CPU is not this loop's. Each row checks its own result: every referral held once at its recipient
(the inbox's items, the ledger), no dead letter. The batched raw hop of the same run is the ratio's
baseline (bench/hops.py), on BENCH_DELIVER_N EMS runs.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ("import asyncio, sys\nfrom connectors.peers.mllp import MllpPeer\n"
        "async def main():\n    p = await MllpPeer().start()\n    print(p.port, flush=True)\n"
        "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)\n"
        "    print(len(p.held), flush=True)\nasyncio.run(main())\n")


async def deliver_alone(bootstrap: str, kind: str, n: int, tmp: Path, connections: int = 1) -> dict:
    from connectors.delivery import registry
    from pipeline import records as r
    from pipeline.app import Deps, runners
    from pipeline.clock import SystemClock
    from pipeline.kafka.faust_app import FaustSink, attach, make_app
    from pipeline.metrics import Metrics
    from pipeline.settings import Settings
    from pipeline.storage import open_store
    from pipeline.topics import Catalogue, create_topics
    from bench.hops import make_row
    from bench.pipeline import message_count, _dead_letter_topics
    from tests.support.delivery import delivery

    peer = None
    address = "inbox"
    if kind == "hl7v2-mllp":
        peer = await asyncio.create_subprocess_exec(sys.executable, "-c", PEER, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)
        address = f"mllp://127.0.0.1:{int(await peer.stdout.readline())}"
    cat = Catalogue(prefix=f"d{os.urandom(4).hex()}")
    await create_topics(bootstrap, cat)
    db = tmp / f"{cat.prefix}.db"
    store = open_store(f"sqlite:///{db}")
    store.migrate()
    settings = Settings(environment="test", delivery={"mllp": {"connections": connections}} if connections > 1 else {})
    topic = cat["delivery"]
    deliveries = [delivery(kind, address, pid=f"org-bench-{i}") for i in range(n)]
    await _preload(bootstrap, topic, [(r.DeliveryKey(referral_id=d.referral_id, recipient_id=d.recipient_id), d)
                                      for d in deliveries])
    connectors = registry().build(settings, store)
    deps = Deps.build(settings, cat, store, connectors, SystemClock())
    app, metrics = make_app(bootstrap, f"g-{cat.prefix}"), Metrics()
    first: list[float] = []
    for runner in runners(deps, FaustSink(app), metrics, names=["deliver"]):
        runner.handle_batch = _timed(runner.handle_batch, first)
        attach(app, runner, batch_size=settings.runtime.batch_size, within=settings.runtime.batch_within_seconds)
    await app.start()
    try:
        deadline = time.monotonic() + 1800
        while metrics.value(metrics.produced, "deliver") < n:
            await _tick(deadline)
        seconds = time.monotonic() - first[0]
    finally:
        await app.stop()
        for c in connectors.values():
            await c.aclose()
    with store.transaction() as tx:
        sent = tx.fetchone("SELECT count(*) AS n FROM delivery_ledger WHERE state = 'sent'")["n"]
        inbox = tx.fetchone("SELECT count(DISTINCT referral_id) AS n FROM inbox_item")["n"]
    store.close()
    held = None
    if peer is not None:
        peer.stdin.close()
        held = int(await peer.stdout.readline())
        await peer.wait()
    where = "Handoff's inbox (a round in one transaction)" if kind == "inbox" else \
        f"a real MLLP receiver on loopback, its own process, {connections} connection(s) at once"
    row = make_row(f"stage deliver alone, {n} deliveries → {where}", n, seconds, [])
    row.update(sent=sent, held=inbox if kind == "inbox" else held,
               dead_letters=await message_count(bootstrap, _dead_letter_topics(cat)))
    return row


def _timed(handle_batch, first: list[float]):
    """The stage's batch handler, noting when it was first called (the clock's start)."""
    async def timed(batch):
        if not first:
            first.append(time.monotonic())
        return await handle_batch(batch)
    return timed


async def _tick(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError("the deliver stage did not finish")
    await asyncio.sleep(0.01)


async def _preload(bootstrap: str, topic, records) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic.full_name, topic.value.encode(v), key=topic.key.encode(k))
                               for k, v in records])
    finally:
        await producer.stop()


async def run(bootstrap: str) -> list[dict]:
    from bench.hops import distinct, run_raw
    from handoff.demo import sample_runs
    from pipeline.topics import Catalogue, create_topics

    n, mllp_n = int(os.environ.get("BENCH_DELIVER_N", "5000")), int(os.environ.get("BENCH_DELIVER_MLLP_N", "1000"))
    tmp = ROOT / ".run" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    base = sample_runs(200)
    cat = Catalogue(prefix=f"h{os.urandom(4).hex()}", partitions=1)
    await create_topics(bootstrap, cat)
    rows = [await run_raw(bootstrap, cat, n, [distinct(base[i % len(base)], i) for i in range(n)], [], 50.0)]
    rows[0]["name"] += " (this row's baseline)"
    _show(rows[-1])
    mllp_rows = [("hl7v2-mllp", mllp_n, int(c)) for c in os.environ.get("BENCH_DELIVER_MLLP_CONNECTIONS", "1,4").split(",")]
    for kind, count, connections in (("inbox", n, 1), *mllp_rows):
        rows.append(await deliver_alone(bootstrap, kind, count, tmp, connections))
        _show(rows[-1])
    for row in rows:
        row["ratio_to_raw"] = round(row["records_per_s"] / rows[0]["records_per_s"], 4)
    return rows


def _show(row: dict) -> None:
    row.setdefault("load_1m", round(os.getloadavg()[0], 1))  # the machine's load when the row ended
    print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    from pipeline.kafka.broker import EmbeddedBroker

    broker = EmbeddedBroker(ROOT / ".run" / f"bench-broker-{os.getpid()}")
    info = broker.start()
    print(f"Kafka {info.version} at {info.bootstrap}; load average {os.getloadavg()}", flush=True)
    try:
        rows = asyncio.run(run(info.bootstrap))
    finally:
        broker.stop()
    print()
    for row in rows:
        _show(row)
