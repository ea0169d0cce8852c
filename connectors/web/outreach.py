"""The outreach pages: the worklist, one person's entry, contact attempts, consent capture and revocation.

    GET  /outreach                       the team's worklist, overdue first
    GET  /outreach/{subject}             one entry: how to find the person, attempts, the consent form
    POST /outreach/{subject}/attempt     method, outcome, note
    POST /outreach/{subject}/consent     the 2.31 / 164.508(c) form with the signed artefact (multipart)
    POST /outreach/{subject}/revoke      consent_id

Every open is a `view` audit record (channel dashboard, purpose outreach) acknowledged before
anything is shown. A complete consent goes through the registry as active and its set is produced
to `consent` at once (the consent stage then releases the held referrals); an incomplete one is
not stored and the page names what is missing. Which entries a team sees, and whether it sees
providers (not when its account's organisation is a law-enforcement agency, settings
edges.agencies): pipeline.outreach.worklist.team_of.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connectors.web import consentform
from connectors.web.auth import Web, form, needs, refuse
from pipeline.audit.emit import view_audit
from pipeline.consent.policy import load_policy
from pipeline.consent.registry import ConsentError, Registry
from pipeline.outreach import capture, worklist as wl
from pipeline.people import Permission
from pipeline.vocab import Purpose


def routes(web: Web) -> list[Route]:
    registry = Registry(web.store)
    policy = load_policy(web.settings.consent.policy)

    def team(request: Request) -> wl.Team:
        return wl.team_of(web.settings, request.state.session.account.organisation_id, policy)

    async def view(request: Request, what: str, subject: str = "", person=None, outcome: str = "success") -> None:
        await web.writer.write([view_audit(request.state.session.account.username, web.clock.now(), "dashboard",
                                           what, person=person, referral_id=subject, purpose=Purpose.OUTREACH,
                                           query=request.url.path, outcome=outcome)], [], [])

    async def find(request: Request):
        subject = request.path_params["subject"]
        found = await asyncio.to_thread(wl.entry, web.store, subject, team(request), web.clock.now())
        if found is None:
            await view(request, "outreach entry (none open)", subject, outcome="refused")
        return found

    @needs(Permission.HOLDS, web)
    async def listing(request: Request) -> Response:
        mine = team(request)
        await view(request, "outreach worklist")
        rows = await asyncio.to_thread(wl.worklist, web.store, mine, web.clock.now())
        return web.page(request, "outreach.html", rows=rows, provider=mine.show_provider, programme=mine.programme)

    async def _page(request: Request, found: wl.Entry, missing: list[str], status: int) -> Response:
        consents = await asyncio.to_thread(capture.consents_for, registry, found.person)
        return web.page(request, "outreach_entry.html", status=status, e=found, consents=consents,
                        provider=team(request).show_provider, methods=wl.METHODS, outcomes=wl.OUTCOMES,
                        **consentform.FORM, missing=missing, fields=getattr(request.state, "form", None) or {},
                        done=request.query_params.get("done", ""), error=request.query_params.get("error", ""))

    @needs(Permission.HOLDS, web)
    async def show(request: Request) -> Response:
        found = await find(request)
        if found is None:
            return refuse(request, web, 404, "no open worklist entry of that id")
        await view(request, "outreach entry", found.subject, found.person)
        return await _page(request, found, [], 200)

    @needs(Permission.HOLDS, web)
    async def attempt(request: Request) -> Response:
        found, fields = await find(request), await form(request)
        if found is None:
            return refuse(request, web, 404, "no open worklist entry of that id")
        try:
            await asyncio.to_thread(wl.record_attempt, web.store, found.subject, found.person,
                                    fields.get("method", ""), fields.get("outcome", ""), fields.get("note", ""),
                                    request.state.session.account.username, web.clock.now())
        except wl.AttemptRefused as e:
            return RedirectResponse(f"/outreach/{found.subject}?error={quote(str(e))}", status_code=303)
        return RedirectResponse(f"/outreach/{found.subject}?done=attempt", status_code=303)

    @needs(Permission.CONSENTS, web)
    async def consent(request: Request) -> Response:
        found, fields = await find(request), await form(request)
        if found is None:
            return refuse(request, web, 404, "no open worklist entry of that id")
        if found.kind != "consent":
            return RedirectResponse(f"/outreach/{found.subject}?error={quote('nothing is held for consent here')}",
                                    status_code=303)
        user, now = request.state.session.account.username, web.clock.now()
        full = await asyncio.to_thread(wl.entry, web.store, found.subject, replace(team(request), show_provider=True),
                                       now)  # the recipient the consent names, whether or not the team sees it
        record, artefact, missing = consentform.read(request, fields, found.subject, {"held": full.recipient}, now)
        if missing:
            await view(request, "consent capture (incomplete, not stored)", found.subject, found.person)
            return await _page(request, found, missing, 422)
        try:
            await consentform.keep(web, registry, found.person, record, artefact, fields, user, now)
        except ConsentError as e:
            return RedirectResponse(f"/outreach/{found.subject}?error={quote(str(e))}", status_code=303)
        return RedirectResponse(f"/outreach/{found.subject}?done=consent", status_code=303)

    @needs(Permission.CONSENTS, web)
    async def revoke(request: Request) -> Response:
        found, fields = await find(request), await form(request)
        if found is None:
            return refuse(request, web, 404, "no open worklist entry of that id")
        consent_id = fields.get("consent_id", "")
        owned = {c.consent_id for c in await asyncio.to_thread(registry.consents, found.person)}
        if consent_id not in owned:
            return RedirectResponse(f"/outreach/{found.subject}?error={quote('no such consent for this person')}",
                                    status_code=303)
        user = request.state.session.account.username
        now = web.clock.now()
        await asyncio.to_thread(registry.revoke, consent_id, now, f"user:{user}")
        await consentform.published(web, registry, user, "consent-revoked", consent_id, now)
        return RedirectResponse(f"/outreach/{found.subject}?done=revoked", status_code=303)

    return [Route("/outreach", listing), Route("/outreach/{subject}", show),
            Route("/outreach/{subject}/attempt", attempt, methods=["POST"]),
            Route("/outreach/{subject}/consent", consent, methods=["POST"]),
            Route("/outreach/{subject}/revoke", revoke, methods=["POST"])]

