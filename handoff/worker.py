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
import logging
import signal
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import typer

from pipeline.kafka.secure import client_options, faust_options
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.topics import Catalogue

log = logging.getLogger("handoff.worker")


def cli(stages: str = typer.Option("", help="comma-separated stage names (default: all); see handoff topology")
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
    run_service(lambda: serve(settings, settings.kafka.bootstrap, names))


def _check_names(names: Sequence[str]) -> None:
    from pipeline.app import PERIODIC, STAGES
    from pipeline.topology import select

    select((*STAGES, *PERIODIC), names)


def _log_to_stderr() -> None:
    """The worker's own lines (readiness, waits, dead letters) at INFO; libraries stay quiet."""
    for name in ("handoff", "pipeline"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger().setLevel(logging.WARNING)


def run_service(main: Callable[[], Awaitable[object]]) -> None:
    """Run `main` until it returns or a SIGTERM / SIGINT arrives, at any moment (start-up too):
    the signal cancels it, so every `async with` and exit-stack callback unwinds (stages stop,
    the consumer leaves its group, an embedded broker is stopped). A second signal is ignored
    while stopping; the stop itself is bounded by the broker's grace period."""
    async def guarded() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            log.warning("%s: stopping", sig.name)
            for s in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(s, lambda: log.warning("already stopping"))
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        try:
            await main()
        except asyncio.CancelledError:
            log.warning("stopped")

    asyncio.run(guarded())


async def serve(settings: Settings, bootstrap: str, names: Sequence[str] = ()) -> None:
    """The worker: start, then run until cancelled."""
    from pipeline.storage import open_store

    async with AsyncExitStack() as stack:
        catalogue = Catalogue.from_settings(settings)  # payload encryption, ingest flush (deploy/README.md)
        metrics = Metrics()
        await wait_for_broker(bootstrap, catalogue, metrics, **client_options(settings.kafka))
        store = open_store(settings.storage.url)
        stack.callback(store.close)
        await wait_for_database(store, metrics)
        running = await start_stages(stack, settings, bootstrap, catalogue, store, metrics, names)
        log.info("worker started: %d stage(s) and task(s) in group %s", len(running.names), running.group)
        await asyncio.Event().wait()


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

    chosen = {row.name for row in select((*STAGES, *PERIODIC), names)}
    stage_names = [s.name for s in STAGES if s.name in chosen]
    tasks = [p for p in PERIODIC if p.name in chosen]
    deps = Deps.build(settings, catalogue, store, registry().build(settings, store), SystemClock(),
                      audit_sealer=Sealer.from_settings(settings))
    metrics.registry.register(ReferralCollector(store, deps.clock))  # the closed loop's counts
    metrics.registry.register(SurveillanceCollector(store, deps.clock))  # overdoses and spikes per area
    server, _ = metrics.serve(settings.metrics.host, settings.metrics.port)
    stack.callback(server.shutdown)
    group = consumer_group(settings.kafka.consumer_group, stage_names, all_stages=not names)
    app = make_app(bootstrap, group, **membership(settings), **faust_options(settings.kafka))  # TLS, SASL
    sink = FaustSink(app)
    selected = runners(deps, sink, metrics, RetryPolicy.of(settings.runtime), stage_names) if stage_names else []
    for runner in selected:
        attach(app, runner, batch_size=settings.runtime.batch_size, within=settings.runtime.batch_within_seconds)

    @app.on_partitions_assigned.connect
    async def _assigned(sender, assigned, **kwargs) -> None:  # noqa: ANN001 - faust's signal signature
        topics = sorted({tp.topic for tp in assigned})
        log.info("consuming: %d partition(s) assigned (%s)", len(assigned), ", ".join(topics) or "none")

    log.info("starting %s; joining consumer group %s", ", ".join(stage_names + [t.name for t in tasks]), group)
    await app.start()
    stack.push_async_callback(app.stop)
    for task in tasks:
        writer = Writer(catalogue, sink, task.name, metrics=metrics, outputs=task.outputs)
        stack.callback(asyncio.create_task(run_periodic(task, deps, writer)).cancel)
    return Running(app, deps, metrics, stage_names + [t.name for t in tasks], group)


def consumer_group(base: str, stage_names: Sequence[str], all_stages: bool) -> str:
    """All stages share `base`; a worker running some stages (`--stages`) joins a group of its
    own set, so that workers with the same set share its partitions and different sets never
    take each other's topics."""
    return base if all_stages else f"{base}.{'+'.join(sorted(stage_names))}"


def membership(settings: Settings) -> dict:
    """Dynamic membership with a short session (see the module's docstring)."""
    k = settings.kafka
    return dict(broker_session_timeout=k.session_timeout_seconds, broker_heartbeat_interval=k.heartbeat_seconds,
                broker_rebalance_timeout=k.rebalance_timeout_seconds)
