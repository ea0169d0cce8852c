"""`handoff run`: the demo (what `make run` calls). The service is `handoff worker`.

Starts a fresh embedded Kafka broker and its own database file (runtime.demo_database,
default .run/demo.db, deleted at start: the demo starts clean; the service's database is
never touched), then the same start-up as the worker (handoff/worker.py: topics,
migrations, every stage, the periodic tasks, /metrics), feeds a fixed-seed made-up sample
of EMS runs (overdoses and crises among ordinary calls) and a few 911 calls (EIDO: a live
suicide-risk call, which alerts the on-duty co-responder team's webhook, updated and later
closed, and a traffic call), waits until the pipeline is quiet, prints a summary and where to look, then serves until Ctrl-C (or exits with --once).
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import typer

from pipeline import records as r
from pipeline.kafka.read import read_topic
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.storage import redact_url
from pipeline.topics import Catalogue, Topic

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
        sample: int = typer.Option(SAMPLE_SIZE, help="how many sample EMS runs to feed"),
        fhir_server: bool = typer.Option(True, help="start the local HAPI FHIR server (Java) the sample's FHIR "
                                                    "provider receives at; without it that provider gets the inbox")
        ) -> None:
    """The demo: an embedded broker, its own database, a made-up sample fed through every stage."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.kafka.broker import BrokerError
    from handoff.worker import run_service

    try:
        run_service(lambda: main(demo_settings(Settings()), once, sample, fhir_server=fhir_server))
    except BrokerError as e:
        raise CliError(str(e), EXIT_UNAVAILABLE) from None


def demo_settings(settings: Settings) -> Settings:
    """The demo's own database and checkpoint file (runtime.demo_database), never the service's."""
    db = settings.runtime.demo_database
    return settings.model_copy(update={
        "storage": settings.storage.model_copy(update={"url": f"sqlite:///{db}"}),
        "audit": settings.audit.model_copy(update={"checkpoint_export": db.with_name(f"{db.stem}-checkpoints.jsonl")}),
    })


async def main(settings: Settings, once: bool, sample: int, bootstrap: str | None = None,
               fhir_server: bool = True) -> dict:
    """The demo on `bootstrap`, or on a fresh embedded broker (then its database starts clean too)."""
    from pipeline.kafka.broker import EmbeddedBroker
    from pipeline.storage import open_store
    from connectors.peers import demo as demo_peers
    from handoff.worker import serve_health, start_stages, wait_for_broker, wait_for_database

    say = lambda text: typer.echo(f"handoff: {text}")  # noqa: E731
    db_path = _sqlite_path(settings.storage.url)
    say(f"demo: made-up sample data, database {db_path or redact_url(settings.storage.url)}"
        f"{', an embedded broker' if bootstrap is None else ''} (the service is `handoff worker`)")
    async with AsyncExitStack() as stack:
        if bootstrap is None:
            broker = EmbeddedBroker(settings.kafka.embedded_run_dir, wipe=True)
            stack.callback(broker.stop)  # before it starts: a signal during start-up stops it too
            info = await asyncio.to_thread(broker.start)
            bootstrap = info.bootstrap
            say(f"Kafka {info.version} broker at {bootstrap}: ready in {info.start_seconds:.1f}s, "
                f"RSS {info.rss_mib:.0f} MiB (log: {broker.run_dir / 'broker.out'})")
            for stale in (db_path, settings.audit.checkpoint_export):  # the demo starts clean, like its broker
                if stale is not None:
                    stale.unlink(missing_ok=True)
        catalogue = Catalogue(settings.kafka.topic_prefix)
        metrics = Metrics()
        serve_health(stack, settings, metrics)
        await wait_for_broker(bootstrap, catalogue, metrics)
        say(f"{len(catalogue.topics)} topics catalogued")
        store = open_store(settings.storage.url)
        stack.callback(store.close)
        await wait_for_database(store, metrics)
        peers = await demo_peers.start(settings, settings.kafka.embedded_run_dir.parent / "peers", stack, fhir_server)
        for line in peers.lines:
            say(line)
        settings = peers.settings  # the demo directory (the peers' ports) and their credentials
        running = await start_stages(stack, settings, bootstrap, catalogue, store, metrics)
        say(f"workers started: {', '.join(running.names)}")

        runs = sample_runs(sample)
        await feed(bootstrap, catalogue, runs)
        say(f"fed {len(runs)} sample EMS runs into {catalogue['ems.run'].full_name}")
        calls = await feed_calls(bootstrap, catalogue, settings)
        say(f"fed {calls} sample 911 call versions (EIDO) into {catalogue['dispatch.incident'].full_name}")
        await wait_quiet(metrics, expected=len(runs))
        summary = await summarise(bootstrap, catalogue, store)
        summary["alerts"] = {team: [_alert_line(a.body) for a in peer.accepted]
                             for team, peer in peers.webhooks.items()}
        typer.echo(render_summary(summary, settings, db_path))
        if once:
            return summary
        say("serving; Ctrl-C stops")
        await running.until_crashed()
        return summary


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


async def feed_calls(bootstrap: str, catalogue: Catalogue, settings: Settings) -> int:
    """Sample 911 calls through the EIDO parser and the ingest edge: a suicide-risk call (its alert),
    a later version (an update), the same call closed (a withdrawal), and a traffic call (nothing)."""
    from datetime import datetime, timedelta, timezone

    from connectors.cad import parse_eido
    from connectors.cad.samples import ISSUER, crisis_call, traffic_call
    from connectors.common import Parsed, ParseContext
    from connectors.ingest import publish
    from pipeline.kafka.producer import ProducerSink
    from pipeline.stage import Writer

    now = datetime.now(timezone.utc).replace(microsecond=0)
    ingest = settings.ingest.model_copy(update={"agency_dispatch_centre": {
        ISSUER: "psap-north", **settings.ingest.agency_dispatch_centre}})
    ctx = ParseContext.of(settings.model_copy(update={"ingest": ingest}), "psap-north", now)
    docs = [crisis_call("24-90001", now), traffic_call("24-90002", now),
            crisis_call("24-90001", now + timedelta(seconds=1), units=("MCT1",)),
            crisis_call("24-90003", now), crisis_call("24-90003", now + timedelta(seconds=1), closed=True)]
    async with ProducerSink(bootstrap) as sink:
        writer = Writer(catalogue, sink, "ingest")
        for doc in docs:
            parsed = [x for x in parse_eido(json.dumps(doc).encode(), ctx) if isinstance(x, Parsed)]
            await publish(writer, parsed, b"", "dispatch.incident", "sample", "ingest:sample", now)
    return len(docs)


def _alert_line(body: bytes) -> str:
    alert = json.loads(body)
    return f"{alert['action']} {alert['incident_number']} v{alert['version']}"


async def wait_quiet(metrics: Metrics, expected: int, quiet: float = 3.0, limit: float = 180.0) -> None:
    """Until the classify-run stage has seen every fed run and no stage has moved for `quiet` seconds."""
    def snapshot():
        return tuple(sample.value for family in metrics.registry.collect()
                     if family.name.startswith("handoff_stage_consumed") for sample in family.samples)

    started, last, changed = time.monotonic(), None, time.monotonic()
    while time.monotonic() - started < limit:
        now = snapshot()
        if now != last:
            last, changed = now, time.monotonic()
        elif metrics.value(metrics.consumed, "classify-run") >= expected and time.monotonic() - changed >= quiet:
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
        sent = {row["endpoint_kind"]: row["n"] for row in tx.fetchall(
            "SELECT endpoint_kind, COUNT(*) AS n FROM delivery_ledger WHERE sent_message_id IS NOT NULL"
            " GROUP BY endpoint_kind ORDER BY endpoint_kind")}
        example = tx.fetchone("SELECT recipient_id, referral_id, content_type FROM inbox_item"
                              " ORDER BY received_at, delivery_id LIMIT 1")
    return {"events_in": counts["ems.run"], "detections": sum(1 for d in detections if d.categories),
            "categories": dict(sorted(categories.items())), "referral_requests": counts["referral.request"],
            "holds": counts["consent.pending"], "deliveries": counts["delivery"], "delivered_to_inbox": inbox,
            "status_events": counts["referral.status"], "dead_letters": dead, "audit_records": audit,
            "example_delivery": example, "delivered_by_endpoint": sent}


def render_summary(summary: dict, settings: Settings, db_path: Path | None) -> str:
    lines = ["", "Handoff demo run (made-up sample data)", "--------------------------------------"]
    for key in ("events_in", "detections", "referral_requests", "holds", "deliveries", "delivered_to_inbox",
                "status_events", "dead_letters"):
        lines.append(f"  {key.replace('_', ' '):22} {summary[key]}")
    lines.append(f"  {'delivered by endpoint':22} {json.dumps(summary.get('delivered_by_endpoint', {}))}")
    lines.append(f"  {'categories':22} {json.dumps(summary['categories'])}")
    lines.append(f"  {'audit records':22} {json.dumps(summary['audit_records'])}")
    for team, alerts in summary.get("alerts", {}).items():
        lines.append(f"  {'alerts to ' + team:22} {', '.join(alerts) or 'none'} (its webhook)")
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
    return await read_topic(bootstrap, topic.full_name, count_only=True)


async def _read(bootstrap: str, topic: Topic) -> list:
    return [topic.value.decode(m.value) for m in await read_topic(bootstrap, topic.full_name)]


def _sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
