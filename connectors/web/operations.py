"""The IT dashboard (role it-operator): the pipeline's health in counts, ids and offsets; no person data.

    GET  /operations            dependencies, lag per group, dead letters, referrals by state, holds,
                                unsealed audit, the versions in force; refreshes itself every 30 s
    POST /operations/replay     replay chosen dead letters (the runtime's replay: a `replay` audit
                                record first, then the original bytes to their topic)

A dead letter is shown by its id, stage, topic, error type and age: never its reason text or
payload (either can quote a record). Counts come from pipeline/monitor.py, as Prometheus sees them.
"""
from __future__ import annotations

from datetime import timezone

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connectors.web.auth import Web, form, needs
from pipeline import deadletters
from pipeline.health import run_probes
from pipeline.monitor import database_state, topic_ends
from pipeline.people import Permission
from pipeline.readiness import service_probes
from pipeline.topics import Catalogue


def versions(settings) -> dict[str, str]:
    """The directory, detection rules, routing rules and consent policy in force (their versions)."""
    from pipeline.consent.policy import load_policy
    from pipeline.detect.ruleset import load_rules
    from pipeline.route import load_routing_rules
    from pipeline.route.directory import DirectorySource

    found: dict[str, str] = {}
    for name, load in (("directory", lambda: DirectorySource(location=settings.routing.directory, ttl=0).current()),
                       ("detection rules", load_rules), ("routing rules", load_routing_rules),
                       ("consent policy", lambda: load_policy(settings.consent.policy))):
        try:
            found[name] = str(load().version)
        except Exception as e:  # noqa: BLE001 - a source that does not load is shown as such
            found[name] = f"does not load ({type(e).__name__})"
    return found


def routes(web: Web) -> list[Route]:
    settings = web.settings
    catalogue = Catalogue(settings.kafka.topic_prefix)

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
        state = await run_in_threadpool(database_state, web.store, now.astimezone(timezone.utc))
        return web.page(request, "operations.html", ready=ready, probes=probes, broker=broker, lag=lag,
                        letters=[dict(id=x.id, stage=x.letter.stage, topic=x.letter.topic,
                                      error_type=x.letter.error_type, age=deadletters.age(x.letter, now))
                                 for x in letters],
                        state=state, versions=await run_in_threadpool(versions, settings),
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
