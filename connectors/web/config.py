"""The admin's configuration page (role admin): what is in force, what was installed, and each dry
run's report with the button that installs exactly the version that was replayed.

    GET  /admin/config            versions in force (and where they come from), open proposals with
                                  their shadow-replay reports, the install history
    POST /admin/config/apply      install a proposal (CSRF; validated again; an `admin` audit record)

A proposal is what `handoff config apply KIND PATH --dry-run` kept (pipeline/config/shadow.py). It
is refused when the version in force changed since its dry run (the report would be stale) or when
it no longer validates against the other kinds in force.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connectors.web.auth import Web, form, needs
from pipeline.config import versions
from pipeline.config.apply import ConfigRefused, apply_version
from pipeline.config.bundle import KINDS
from pipeline.config.current import current
from pipeline.config.shadow import Report
from pipeline.people import Permission


def _state(web: Web) -> dict:
    settings, store = web.settings, web.store
    in_force = []
    for kind, k in KINDS.items():
        try:
            now = current(store, settings, kind)
            in_force.append(dict(kind=kind, label=k.label, version=now.version, source=now.source))
        except (ValueError, OSError) as e:
            in_force.append(dict(kind=kind, label=k.label, version=f"does not load ({type(e).__name__})", source=""))
    proposals = []
    for p in versions.proposals(store):
        report = Report.of(p.report)
        cases: dict[tuple, list] = {}
        for c in report.changes:
            cases.setdefault((c.what, c.category, c.area), []).append(c)
        proposals.append(dict(p=p, label=KINDS[p.kind].label, report=report, summary=report.summary(), cases=cases,
                              stale=p.base_version != next(x["version"] for x in in_force if x["kind"] == p.kind)))
    return dict(in_force=in_force, proposals=proposals, history=versions.history(store, 20))


def routes(web: Web) -> list[Route]:
    @needs(Permission.CONFIGURATION, web)
    async def page(request: Request) -> Response:
        state = await run_in_threadpool(_state, web)
        return web.page(request, "admin_config.html", applied=request.query_params.get("applied", ""),
                        error=request.query_params.get("error", ""), **state)

    @needs(Permission.CONFIGURATION, web)
    async def apply(request: Request) -> Response:
        fields = await form(request)
        user = request.state.session.account.username
        found = await run_in_threadpool(versions.proposal, web.store, fields.get("proposal", ""))
        if found is None or found.state != "proposed":
            return web.page(request, "admin_config.html", status=409, applied="",
                            error="that proposal is not open any more: reload the page",
                            **await run_in_threadpool(_state, web))

        def install():
            in_force = current(web.store, web.settings, found.kind).version
            if in_force != found.base_version:
                raise ConfigRefused(f"the {KINDS[found.kind].label} in force changed since the dry run "
                                    f"({found.base_version} then, {in_force} now): run the dry run again")
            return apply_version(web.store, web.settings, found.bundle, user, web.clock.now(), channel="web",
                                 proposal_id=found.proposal_id)
        try:
            done = await run_in_threadpool(install)
        except ConfigRefused as e:
            return web.page(request, "admin_config.html", status=409, applied="", error=str(e),
                            **await run_in_threadpool(_state, web))
        return RedirectResponse(f"/admin/config?applied={done.kind}+{done.version}+%23{done.seq}", status_code=303)

    return [Route("/admin/config", page), Route("/admin/config/apply", apply, methods=["POST"])]
