"""`handoff worker [--stages …]`: the production service.

Runs the declared stages (pipeline/app.py; all, or those named) and the periodic tasks
against the configured broker (HANDOFF_KAFKA__BOOTSTRAP) and database
(HANDOFF_STORAGE__URL). It feeds nothing and deletes nothing. It says what it waits for:
the broker (topics created once it answers), the database (migrated once it answers),
then the consumer group's partitions; `handoff_dependency_ready` reports the same.

Consumer group membership is dynamic: a clean stop (SIGTERM, Ctrl-C) sends LeaveGroup,
so the survivors take the partitions over at once and a restarted worker consumes again
within seconds; a killed worker's partitions move after `kafka.session_timeout_seconds`
(10 s). SIGTERM or Ctrl-C at any moment, start-up included, stops the stages, then
whatever was started (the embedded broker of the demo too).

`handoff run` (handoff/demo.py) is the demo built on the same start-up.
"""
from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import threading
import time
import traceback
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Sequence

import typer

from pipeline.kafka.secure import client_options, faust_options
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.topics import Catalogue

log = logging.getLogger("handoff.worker")


def cli(stages: str = typer.Option("", help="comma-separated stage names (default: all; see handoff topology), "
                                         "or one set: ingest, referrals (the split deployment)")
        ) -> None:
    """Run the stages against the configured broker and database (the production service)."""
    from handoff.errors import EXIT_CONFIG, EXIT_USAGE, CliError

    settings = Settings()
    if not settings.kafka.bootstrap:
        raise CliError("no broker configured: set HANDOFF_KAFKA__BOOTSTRAP (`handoff run` is the demo with an "
                       "embedded broker)", EXIT_CONFIG)
    names = [n.strip() for n in stages.split(",") if n.strip()]
    try:
        _check_names(names)
    except KeyError as e:
        raise CliError(e.args[0], EXIT_USAGE) from None
    _log_to_stderr()
    run_service(lambda: serve(settings, settings.kafka.bootstrap, names), settings.runtime.stop_grace_seconds)


def _check_names(names: Sequence[str]) -> None:
    from pipeline.app import PERIODIC, STAGES
    from pipeline.topology import select

    select((*STAGES, *PERIODIC), expand(names))


# The split deployment (README "Performance"): one faust consumer and one event loop feed every
# stage of a worker, so a backlog on ems.run starves the later stages of the same worker. These
# stages take one or more records per EMS run and their lag holds up no person: in a worker of
# their own (`--stages ingest`), the referral path (`--stages referrals`) keeps its own consumer.
INGEST = ("classify-run", "report-detection", "report-request", "audit-sink")


def stage_sets() -> dict[str, tuple[str, ...]]:
    """Named sets for `--stages`: `ingest` and `referrals` (every other stage and periodic task)."""
    from pipeline.app import PERIODIC, STAGES

    return {"ingest": INGEST, "referrals": tuple(r.name for r in (*STAGES, *PERIODIC) if r.name not in INGEST)}


def expand(names: Sequence[str]) -> list[str]:
    """Stage and task names, a set's name replaced by its members (in order, each once)."""
    sets = stage_sets()
    return list(dict.fromkeys(n for name in names for n in sets.get(name, (name,))))


def _log_to_stderr() -> None:
    """The worker's own lines (readiness, waits, dead letters) at INFO; libraries stay quiet."""
    for name in ("handoff", "pipeline"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger().setLevel(logging.WARNING)


def run_service(main: Callable[[], Awaitable[object]], grace: float = 30.0) -> None:
    """Run `main` until it returns or a SIGTERM / SIGINT arrives, at any moment (start-up too):
    the signal cancels it, so every `async with` and exit-stack callback unwinds (stages stop,
    the consumer leaves its group, an embedded broker is stopped). A second signal is ignored
    while stopping. The stop is bounded: past `grace` seconds every thread's stack goes to
    stderr and the process exits 1. SIGUSR1 prints the stacks at any time (a stuck worker)."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    async def guarded() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            log.warning("%s: stopping", sig.name)
            for s in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(s, lambda: log.warning("already stopping"))
            watchdog = threading.Timer(grace, _overran, (grace,))
            watchdog.daemon = True
            watchdog.start()
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        try:
            await main()
        except asyncio.CancelledError:
            log.warning("stopped")

    asyncio.run(guarded())


def _overran(grace: float) -> None:
    log.error("not stopped %.0fs after the signal: exiting 1 (every thread's stack follows)", grace)
    faulthandler.dump_traceback(all_threads=True)
    os._exit(1)


async def serve(settings: Settings, bootstrap: str, names: Sequence[str] = ()) -> None:
    """The worker: start, then run until cancelled."""
    from pipeline.storage import open_store

    async with AsyncExitStack() as stack:
        metrics = Metrics()
        serve_health(stack, settings, metrics)  # first: a long wait for the broker is alive, not ready
        catalogue = Catalogue.from_settings(settings)  # payload encryption, ingest flush (deploy/README.md)
        await wait_for_broker(bootstrap, catalogue, metrics, **client_options(settings.kafka))
        store = open_store(settings.storage.url)
        stack.callback(store.close)
        await wait_for_database(store, metrics)
        running = await start_stages(stack, settings, bootstrap, catalogue, store, metrics, names)
        log.info("worker started: %d stage(s) and task(s) in group %s", len(running.names), running.group)
        await running.until_crashed()


READY_REQUIRES = ("broker", "database", "consumer-group")


def serve_health(stack: AsyncExitStack, settings: Settings, metrics: Metrics) -> None:
    """/healthz, /readyz and /metrics from the first moment of the worker's life (pipeline/health.py):
    alive while it waits, /readyz names what it waits for (broker, database, consumer group)."""
    server, _ = metrics.serve(settings.metrics.host, settings.metrics.port, requires=READY_REQUIRES)
    stack.callback(server.shutdown)
    host, port = server.server_address[:2]
    log.info("health on http://%s:%d/healthz (/readyz, /metrics)", host, port)


async def wait_for_broker(bootstrap: str, catalogue: Catalogue, metrics: Metrics, every: float = 2.0,
                          **admin_options) -> None:
    """Until the broker answers: then the catalogued topics exist (created where missing)."""
    from pipeline.errors import classify
    from pipeline.topics import create_topics

    since = time.monotonic()
    while True:
        try:
            created = await create_topics(bootstrap, catalogue, request_timeout_ms=5000, **admin_options)
            break
        except Exception as e:  # noqa: BLE001 - classified: a permanent refusal stops the worker
            error = classify(e)
            if not error.transient:
                raise
            metrics.ready.labels("broker").set(0)
            log.warning("not ready: waiting for the broker at %s (%s); %.0fs so far", bootstrap, error.cause_type,
                        time.monotonic() - since)
            await asyncio.sleep(every)
    metrics.ready.labels("broker").set(1)
    log.info("broker at %s answers: %d topics catalogued, %d created", bootstrap, len(catalogue.topics),
             len(created))


async def wait_for_database(store, metrics: Metrics, every: float = 2.0) -> None:
    """Until the database answers: then its migrations are applied (idempotent)."""
    from pipeline.storage import StorageError

    since = time.monotonic()
    while True:
        try:
            applied = await asyncio.to_thread(store.migrate)
            break
        except StorageError as e:
            if not e.transient:
                raise
            metrics.ready.labels("database").set(0)
            log.warning("not ready: waiting for the database %s (%s); %.0fs so far", store.location,
                        type(e).__name__, time.monotonic() - since)
            await asyncio.sleep(every)
    metrics.ready.labels("database").set(1)
    log.info("database %s answers: %d migration(s) applied", store.location, len(applied))


@dataclass
class Running:
    app: object
    deps: object
    metrics: Metrics
    names: list[str]
    group: str
    crashed: asyncio.Future  # raises CliError once a stage's batch raised (`until_crashed`)

    async def until_crashed(self) -> None:
        """Serve until a stage's batch raises (a bug, or a broker refusing even the dead letters):
        then a one-line error and exit 1, so that the restart replays the batch at once rather than
        the worker going on with its partitions' commits held back behind it."""
        await self.crashed


async def start_stages(stack: AsyncExitStack, settings: Settings, bootstrap: str, catalogue: Catalogue, store,
                       metrics: Metrics, names: Sequence[str] = ()) -> Running:
    """Build the stages' dependencies, attach the declared stages (all, or those named) to one
    consumer group, start the periodic tasks among them and the /metrics endpoint."""
    from connectors.delivery import registry
    from pipeline.app import PERIODIC, STAGES, Deps, runners
    from pipeline.audit.sink import Sealer
    from pipeline.clock import SystemClock
    from pipeline.kafka.faust_app import FaustSink, attach, make_app
    from pipeline.stage import RetryPolicy, Writer
    from pipeline.topology import run_periodic, select
    from pipeline.report.metrics import SurveillanceCollector
    from pipeline.track.metrics import ReferralCollector

    chosen = {row.name for row in select((*STAGES, *PERIODIC), expand(names))}
    stage_names = [s.name for s in STAGES if s.name in chosen]
    tasks = [p for p in PERIODIC if p.name in chosen]
    group = consumer_group(settings.kafka.consumer_group, stage_names, all_stages=not names,
                           set_name=names[0] if len(names) == 1 and names[0] in stage_sets() else "")
    await refuse_overlap(settings, bootstrap, group, [s.name for s in STAGES])
    deps = Deps.build(settings, catalogue, store, registry().build(settings, store), SystemClock(),
                      audit_sealer=Sealer.from_settings(settings))
    metrics.registry.register(ReferralCollector(store, deps.clock))  # the closed loop's counts
    metrics.registry.register(SurveillanceCollector(store, deps.clock))  # overdoses and spikes per area
    await asyncio.to_thread(warm, deps, settings)
    tiers = any(s.tier for s in STAGES if s.name in stage_names)
    app = make_app(bootstrap, group, **consumer_options(settings, tiers), **faust_options(settings.kafka))  # TLS, SASL
    sink = FaustSink(app)
    selected = runners(deps, sink, metrics, RetryPolicy.of(settings.runtime), stage_names) if stage_names else []
    crashed = asyncio.get_running_loop().create_future()

    def on_crash(stage: str, error: BaseException) -> None:
        from handoff.errors import EXIT_CHECK_FAILED, CliError

        frames = traceback.extract_tb(error.__traceback__)  # where, not what: a message may quote a record
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        if not crashed.done():
            crashed.set_exception(CliError(f"stage {stage} crashed ({type(error).__name__}{where}); its batch was not"
                                           f" committed: restart the worker to replay it", EXIT_CHECK_FAILED))
    for runner in selected:
        attach(app, runner, batch_size=settings.runtime.batch_size, within=settings.runtime.batch_within_seconds,
               on_crash=on_crash)

    @app.on_partitions_assigned.connect
    async def _assigned(sender, assigned, **kwargs) -> None:  # noqa: ANN001 - faust's signal signature
        topics = sorted({tp.topic for tp in assigned})
        log.info("consuming: %d partition(s) assigned (%s)", len(assigned), ", ".join(topics) or "none")

    log.info("starting %s; joining consumer group %s", ", ".join(stage_names + [t.name for t in tasks]), group)
    stack.push_async_callback(app.stop)  # before start: a SIGTERM while it starts (or joins) stops it too
    await app.start()
    await refuse_overlap(settings, bootstrap, group, [s.name for s in STAGES])  # again: one started meanwhile
    metrics.ready.labels("consumer-group").set(1)
    for task in tasks:
        writer = Writer(catalogue, sink, task.name, metrics=metrics, outputs=task.outputs)
        stack.callback(asyncio.create_task(run_periodic(task, deps, writer)).cancel)
    return Running(app, deps, metrics, stage_names + [t.name for t in tasks], group, crashed)


def warm(deps, settings: Settings) -> None:
    """Load once, before consuming, what a stage would otherwise load on its first record: the
    ICD-10-CM table (seconds of CPU holding the GIL: a running worker would miss heartbeats and
    /readyz answers; cached for the next start) and the provider directory."""
    from pipeline.render.codes import load_icd10cm

    since = time.monotonic()
    codes, source = load_icd10cm(settings.runtime.cache_dir)
    log.info("ICD-10-CM: %d codes from the %s in %.1fs", codes, source, time.monotonic() - since)
    try:
        deps.directory.current()
    except Exception as e:  # noqa: BLE001 - the first referral tries again (and is retried while it is away)
        log.warning("provider directory not loaded yet (%s); the first referral loads it", type(e).__name__)


def consumer_group(base: str, stage_names: Sequence[str], all_stages: bool, set_name: str = "") -> str:
    """All stages share `base`; a worker running some stages (`--stages`) joins a group of its
    own set (`base.<set name>` for a named set, else `base.<its stages joined by +>`), so that
    workers with the same set share its partitions and different sets never take each other's
    topics. Sets that overlap would each consume the shared stage's topic, so the worker refuses
    to run beside one (`refuse_overlap`)."""
    if all_stages:
        return base
    return f"{base}.{set_name}" if set_name else f"{base}.{'+'.join(sorted(stage_names))}"


def overlapping(base: str, ours: str, active: Sequence[str], known: Sequence[str]) -> dict[str, list[str]]:
    """The active groups of this deployment (`base`, `base.<a+b>`) other than `ours` whose stage
    set shares stages with ours: {group: shared stages}. Groups that are not stage sets are ignored."""
    sets = stage_sets()

    def stages(group: str) -> set[str]:
        if group == base:
            return set(known)
        if not group.startswith(f"{base}."):
            return set()
        suffix = group[len(base) + 1:]
        named = set(sets[suffix]) & set(known) if suffix in sets else set(suffix.split("+"))
        return named if named <= set(known) else set()

    mine = stages(ours)
    return {group: sorted(mine & stages(group)) for group in active if group != ours and mine & stages(group)}


async def refuse_overlap(settings: Settings, bootstrap: str, group: str, known: Sequence[str]) -> None:
    """A stage runs in one set of `--stages` only: a CliError (exit 4) when another set that shares
    one of our stages has members in the group of its set now."""
    from handoff.errors import EXIT_CONFIG, CliError
    from pipeline.kafka.groups import active_groups

    base = settings.kafka.consumer_group
    active = await active_groups(bootstrap, base, request_timeout_ms=5000, **client_options(settings.kafka))
    clash = overlapping(base, group, list(active), known)
    if clash:
        other, shared = sorted(clash.items())[0]
        raise CliError(f"stage(s) {', '.join(shared)} already run in consumer group {other} "
                       f"({active[other]} member(s)): overlapping --stages sets would process their records "
                       f"twice; give every worker that runs a stage the same set", EXIT_CONFIG)



# A retry tier's agent waits on its head record until it is due (pipeline/stage.py `_until_due`) while its
# stream keeps taking records; once its stream buffer (faust: one size for every stream of the app) is full,
# faust stops delivering every topic of the process until the head is due (measured: buffer 8, 40 records
# waiting 60 s: nothing else moved for 30 s; tests/integration/test_delivery_retry.py). A worker that runs
# a tier keeps at least faust's default buffer, so that only a tier with thousands waiting can stall it.
TIER_BUFFER = 4096


def consumer_options(settings: Settings, tiers: bool = False) -> dict:
    """The consumer side of the app: dynamic membership with a short session (see the module's docstring),
    and how much a stage may hold ahead of its batches (runtime.buffer_records, fetch_bytes_per_partition;
    with `tiers`, a retry tier among the stages, at least TIER_BUFFER)."""
    k = settings.kafka
    buffer = max(settings.runtime.buffer_records, TIER_BUFFER) if tiers else settings.runtime.buffer_records
    return dict(broker_session_timeout=k.session_timeout_seconds, broker_heartbeat_interval=k.heartbeat_seconds,
                broker_rebalance_timeout=k.rebalance_timeout_seconds,
                stream_buffer_maxsize=buffer,
                consumer_max_fetch_size=settings.runtime.fetch_bytes_per_partition)
