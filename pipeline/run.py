"""`handoff run`: the main job on the embedded default (what `make run` calls).

Starts the embedded Kafka broker (unless HANDOFF_KAFKA__BOOTSTRAP names one), creates
the catalogued topics, migrates the database, starts every stage as a faust agent and
the /metrics endpoint, feeds a fixed-seed sample of EMS runs (overdoses and crises
among ordinary calls), waits until the pipeline is quiet, prints a summary and where
to look, then serves until Ctrl-C (or exits with --once).
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline import records as r
from pipeline.clock import SystemClock
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.storage import redact_url
from pipeline.topics import Catalogue, Topic, create_topics

SAMPLE_SIZE = 80


# Fictional people for the sample (the corpus leaves demographics out).
FAMILY = ["Rivera", "Okafor", "Lindqvist", "Haddad", "Nguyen", "Kowalski", "Mendes", "Abernathy", "Tanaka", "Osei"]
GIVEN = ["Jordan", "Casey", "Morgan", "Riley", "Avery", "Quinn", "Skyler", "Emerson", "Rowan", "Dakota"]
COUNTIES = ["Sangamon", "Sangamon", "Sangamon", "Menard", "Logan"]


def sample_runs(count: int = SAMPLE_SIZE, seed: int = 1911) -> list[r.EmsRun]:
    """A fixed-seed sample of realistic EMS runs (the detection corpus generator's), each
    given a fictional person and home county so that tokens and routing have something to use."""
    import random
    from datetime import date

    from pipeline.detect.corpus.generate import generate

    rng = random.Random(seed)
    runs = []
    for line in generate("corpus"):
        if line["record_type"] != "ems.run":
            continue
        run = r.EmsRun.model_validate(line["record"])
        age = run.age if run.age and run.age_units in ("", "2516009") else rng.randint(18, 80)
        born = date(run.envelope.occurred_at.year - age, rng.randint(1, 12), rng.randint(1, 28))
        patient = run.patient.model_copy(update={
            "family": rng.choice(FAMILY), "given": rng.choice(GIVEN), "birth_date": born,
            "phone": f"555-01{rng.randint(0, 99):02d}", "address": r.Address(county=rng.choice(COUNTIES), state="IL")})
        runs.append(run.model_copy(update={"patient": patient}))
        if len(runs) == count:
            break
    return runs


def cli(once: bool = typer.Option(False, "--once", help="exit after the sample has gone through"),
        sample: int = typer.Option(SAMPLE_SIZE, help="how many sample EMS runs to feed")) -> None:
    """Run the whole pipeline on the embedded default and feed a sample through it."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.kafka.broker import BrokerError

    try:
        asyncio.run(main(Settings(), once, sample))
    except BrokerError as e:
        raise CliError(str(e), EXIT_UNAVAILABLE) from None


async def main(settings: Settings, once: bool, sample: int) -> None:
    from connectors.delivery import registry
    from pipeline.app import Deps, runners
    from pipeline.audit.sink import Sealer
    from pipeline.stage import Writer
    from pipeline.kafka.broker import EmbeddedBroker
    from pipeline.kafka.faust_app import FaustSink, attach, make_app
    from pipeline.storage import open_store

    say = lambda text: typer.echo(f"handoff: {text}")  # noqa: E731
    async with AsyncExitStack() as stack:
        bootstrap = settings.kafka.bootstrap
        if not bootstrap:
            broker = EmbeddedBroker(settings.kafka.embedded_run_dir)
            info = await asyncio.to_thread(broker.start)
            stack.callback(broker.stop)
            bootstrap = info.bootstrap
            say(f"Kafka {info.version} broker at {bootstrap}: ready in {info.start_seconds:.1f}s, "
                f"RSS {info.rss_mib:.0f} MiB (log: {broker.run_dir / 'broker.out'})")
        catalogue = Catalogue(settings.kafka.topic_prefix)
        created = await create_topics(bootstrap, catalogue)
        say(f"{len(catalogue.topics)} topics catalogued, {len(created)} created")

        db_path = _sqlite_path(settings.storage.url)
        if db_path and settings.kafka.bootstrap == "":  # the embedded demo starts clean, like its broker
            for stale in (db_path, settings.audit.checkpoint_export):
                stale.unlink(missing_ok=True)
        store = open_store(settings.storage.url)
        stack.callback(store.close)
        store.migrate()

        deps = Deps.build(settings, catalogue, store, registry().build(settings, store), SystemClock(),
                          audit_sealer=Sealer.from_settings(settings))
        metrics = Metrics()
        server, _ = metrics.serve(settings.metrics.host, settings.metrics.port)
        stack.callback(server.shutdown)
        app = make_app(bootstrap, settings.kafka.consumer_group)
        for runner in runners(deps, FaustSink(app), metrics):
            attach(app, runner)
        await app.start()
        stack.push_async_callback(app.stop)
        stack.callback(_consent_sweeper(deps, catalogue, app, settings).cancel)
        stack.callback(asyncio.create_task(purge_episodes(deps, Writer(catalogue, FaustSink(app), "housekeeping"),
                                                          settings.routing.episode_retention_days)).cancel)
        say(f"workers started: {', '.join(s.stage.name for s in runners(deps, None, metrics))}")

        runs = sample_runs(sample)
        await feed(bootstrap, catalogue, runs)
        say(f"fed {len(runs)} sample EMS runs into {catalogue['ems.run'].full_name}")
        await wait_quiet(metrics, expected=len(runs))
        summary = await summarise(bootstrap, catalogue, store)
        typer.echo(render_summary(summary, settings, db_path))
        if once:
            return
        say("serving; Ctrl-C stops")
        await _until_signal()


async def purge_episodes(deps, writer, retention_days: float, every: float = 3600.0, once: bool = False) -> None:
    """Hourly: purge episode state past its retention, with an `admin` audit record of the counts."""
    from datetime import timedelta

    from pipeline.audit.emit import admin_audit
    from pipeline.episode.state import purge
    from pipeline.storage import StorageError

    while True:
        now = deps.clock.now()
        try:
            counts = await asyncio.to_thread(purge, deps.store, now - timedelta(days=retention_days))
            if any(counts.values()):
                audit = admin_audit("handoff", now, "purge-episode-state", "episode",
                                    {k: str(v) for k, v in counts.items()} | {"retention_days": str(retention_days)})
                await writer.write([audit], [], [])
        except StorageError as e:  # the next pass catches up
            logging.getLogger(__name__).warning("episode purge skipped: %s", type(e).__name__)
        if once:
            return
        await asyncio.sleep(every)


def _consent_sweeper(deps, catalogue: Catalogue, app, settings: Settings) -> asyncio.Task:
    """The consent registry's producer and hold expiry, every consent.sweep_seconds."""
    from pipeline.consent.sweep import run_sweeper
    from pipeline.kafka.faust_app import FaustSink
    from pipeline.stage import Writer

    writer = Writer(catalogue, FaustSink(app), "consent-sweep")
    return asyncio.create_task(run_sweeper(deps.gate, writer, deps.clock, settings.consent.sweep_seconds))


async def feed(bootstrap: str, catalogue: Catalogue, runs: list[r.EmsRun]) -> None:
    """The sample goes in through the ingest edge: an `ingest` audit record, then the run."""
    from connectors.common import Parsed
    from connectors.ingest import publish
    from pipeline.kafka.producer import ProducerSink
    from pipeline.stage import Writer

    async with ProducerSink(bootstrap) as sink:
        writer = Writer(catalogue, sink, "ingest")
        for run in runs:
            await publish(writer, [Parsed(run)], b"", "ems.run", "sample", "ingest:sample", run.envelope.ingested_at)


async def wait_quiet(metrics: Metrics, expected: int, quiet: float = 3.0, limit: float = 180.0) -> None:
    """Until the detect stage has seen every fed run and no stage has moved for `quiet` seconds."""
    def snapshot():
        return tuple(sample.value for family in metrics.registry.collect()
                     if family.name.startswith("handoff_stage_consumed") for sample in family.samples)

    started, last, changed = time.monotonic(), None, time.monotonic()
    while time.monotonic() - started < limit:
        now = snapshot()
        if now != last:
            last, changed = now, time.monotonic()
        elif metrics.value(metrics.consumed, "detect") >= expected and time.monotonic() - changed >= quiet:
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the pipeline did not settle within {limit:.0f}s")


async def summarise(bootstrap: str, catalogue: Catalogue, store) -> dict:
    counts = {name: await _count(bootstrap, catalogue[name]) for name in
              ("ems.run", "detection", "referral.request", "consent.pending", "delivery", "referral.status")}
    detections = await _read(bootstrap, catalogue["detection"])
    categories = Counter(c.value for d in detections for c in d.categories)
    dead = sum([await _count(bootstrap, t) for t in catalogue if t.name.endswith(".dlq")])
    with store.transaction() as tx:
        inbox = tx.fetchone("SELECT COUNT(*) AS n FROM inbox_item")["n"]
        audit = {row["kind"]: row["n"] for row in
                 tx.fetchall("SELECT kind, COUNT(*) AS n FROM audit_record GROUP BY kind ORDER BY kind")}
        example = tx.fetchone("SELECT recipient_id, referral_id, content_type FROM inbox_item"
                              " ORDER BY received_at, delivery_id LIMIT 1")
    return {"events_in": counts["ems.run"], "detections": sum(1 for d in detections if d.categories),
            "categories": dict(sorted(categories.items())), "referral_requests": counts["referral.request"],
            "holds": counts["consent.pending"], "deliveries": counts["delivery"], "delivered_to_inbox": inbox,
            "status_events": counts["referral.status"], "dead_letters": dead, "audit_records": audit,
            "example_delivery": example}


def render_summary(summary: dict, settings: Settings, db_path: Path | None) -> str:
    lines = ["", "Handoff sample run", "------------------"]
    for key in ("events_in", "detections", "referral_requests", "holds", "deliveries", "delivered_to_inbox",
                "status_events", "dead_letters"):
        lines.append(f"  {key.replace('_', ' '):22} {summary[key]}")
    lines.append(f"  {'categories':22} {json.dumps(summary['categories'])}")
    lines.append(f"  {'audit records':22} {json.dumps(summary['audit_records'])}")
    lines += ["", "Where to look:",
              f"  metrics      http://{settings.metrics.host}:{settings.metrics.port}/metrics",
              f"  database     {db_path or redact_url(settings.storage.url)}  (tables inbox_item, audit_record, referral_state)",
              "  topics       .venv/bin/handoff topics list",
              "  schemas      pipeline/schemas/*.avsc and topics.yaml"]
    if summary["example_delivery"]:
        ex = summary["example_delivery"]
        lines.append(f"  a delivery   {ex['referral_id']} to {ex['recipient_id']} ({ex['content_type']})")
    return "\n".join(lines) + "\n"


async def _count(bootstrap: str, topic: Topic) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic.full_name])
    finally:
        await admin.close()
    tps = [TopicPartition(topic.full_name, p["partition"]) for p in described["partitions"]]
    if not tps:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        ends, starts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


async def _read(bootstrap: str, topic: Topic) -> list:
    total = await _count(bootstrap, topic)
    consumer = AIOKafkaConsumer(topic.full_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out = []
    try:
        while len(out) < total:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                out += [topic.value.decode(m.value) for m in messages]
    finally:
        await consumer.stop()
    return out


def _sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
