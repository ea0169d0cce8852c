"""The IT dashboard (role it-operator): the pipeline's health in counts, ids and offsets; no person data.

    GET  /operations            dependencies, throughput and lag per stage over the last hour (inline
                                SVG charts), lag per group, dead letters, referrals by state, holds,
                                unsealed audit, the versions in force; refreshes itself every 30 s
    POST /operations/replay     replay chosen dead letters (the runtime's replay: a `replay` audit
                                record first, then the original bytes to their topic)

A dead letter is shown by its id, stage, topic, error type and age: never its reason text or
payload (either can quote a record). Counts come from pipeline/monitor.py, as Prometheus sees them.
The charts' samples (committed offsets and lag of the workers' consumer groups) are taken by this
service every `monitor.sample_seconds` once the page has been opened, and at each page view, and
kept in memory for `monitor.window_seconds` (pipeline/monitor.py History).
"""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import timezone

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connectors.web.auth import Web, form, needs
from connectors.web.charts import line_chart
from pipeline import deadletters
from pipeline.health import run_probes
from pipeline.monitor import History, TopicEnds, database_state, topic_ends
from pipeline.people import Permission
from pipeline.readiness import service_probes
from pipeline.topics import Catalogue


def versions(settings, store) -> dict[str, str]:
    """The directory, detection rules, routing rules and consent policy in force (their versions):
    the installed ones (`handoff config apply`), else the configured files."""
    from pipeline.config.current import versions_in_force

    return versions_in_force(store, settings)


class Sampler:
    """Offsets and lag into a History: at each page view, and every `every` seconds in a daemon
    thread once started (a sample that fails, the broker away, is simply missing from the chart)."""

    def __init__(self, bootstrap: str, prefix: str, every: float, window: float) -> None:
        self.bootstrap, self.prefix, self.every = bootstrap, prefix, every
        self.history = History(window)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, ends: TopicEnds) -> None:
        with self.lock:
            latest = self.history.latest()
            if latest is None or time.time() - latest >= 1.0:
                self.history.add(ends, time.time())

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="operations-sampler", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.add(asyncio.run(topic_ends(self.bootstrap, self.prefix)))
            except Exception:  # noqa: BLE001 - the broker is away: a gap in the chart
                continue

    def rows(self, catalogue: Catalogue, base_group: str) -> list[dict]:
        """One row per worker group and consumed topic: the stages that consume it, two charts."""
        from pipeline.app import STAGES

        stages: dict[str, list[str]] = {}
        for s in STAGES:
            stages.setdefault(catalogue[s.source].full_name, []).append(s.name)
        with self.lock:
            series = self.history.series(lambda g: g == base_group or g.startswith(base_group + "."))
        end = time.time()
        start = end - self.history.window
        return [dict(stages=", ".join(stages.get(x.topic, [])) or x.topic, group=x.group, topic=x.topic,
                     throughput=line_chart(x.throughput, start, end, "processed per minute"),
                     lag=line_chart(x.lag, start, end, "lag, messages"))
                for x in series]


def routes(web: Web) -> list[Route]:
    settings = web.settings
    catalogue = Catalogue(settings.kafka.topic_prefix)
    sampler = Sampler(settings.kafka.bootstrap, catalogue.prefix, settings.monitor.sample_seconds,
                      settings.monitor.window_seconds)

    @needs(Permission.OPERATIONS, web)
    async def page(request: Request) -> Response:
        now = web.clock.now()
        ready, probes = await run_in_threadpool(run_probes, service_probes(settings))
        try:
            ends = await topic_ends(settings.kafka.bootstrap, catalogue.prefix)
            letters = await deadletters.find(settings.kafka.bootstrap, catalogue)
            broker = ""
        except Exception as e:  # noqa: BLE001 - the broker is away: the page says so
            ends, letters, broker = None, [], type(e).__name__
        lag: dict[str, int] = {}
        for x in (ends.lags if ends else []):
            lag[x.group] = lag.get(x.group, 0) + x.lag
        if ends is not None:
            sampler.add(ends)
        sampler.start()
        state = await run_in_threadpool(database_state, web.store, now.astimezone(timezone.utc))
        return web.page(request, "operations.html", ready=ready, probes=probes, broker=broker, lag=lag,
                        charts=sampler.rows(catalogue, settings.kafka.consumer_group),
                        window_minutes=round(settings.monitor.window_seconds / 60),
                        letters=[dict(id=x.id, stage=x.letter.stage, topic=x.letter.topic,
                                      error_type=x.letter.error_type, age=deadletters.age(x.letter, now))
                                 for x in letters],
                        state=state, versions=await run_in_threadpool(versions, settings, web.store),
                        replayed=request.query_params.get("replayed", ""))

    @needs(Permission.OPERATIONS, web)
    async def replay(request: Request) -> Response:
        fields = await form(request)
        wanted = fields.get("id", "")
        letters = [x for x in await deadletters.find(settings.kafka.bootstrap, catalogue, ids=[wanted])
                   if wanted and x.id == wanted]
        if letters:
            why = (fields.get("why") or "replayed from the IT dashboard")[:200]
            await deadletters.replay(web.writer, letters, web.clock.now(), request.state.session.account.username,
                                     why)
        return RedirectResponse(f"/operations?replayed={len(letters)}", status_code=303)

    return [Route("/operations", page), Route("/operations/replay", replay, methods=["POST"])]
