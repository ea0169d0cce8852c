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
from urllib.parse import urlencode

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


class Refused(Exception):
    """An action refused on an open entry: its page says why."""


def routes(web: Web) -> list[Route]:
    registry = Registry(web.store)
    policy = load_policy(web.settings.consent.policy)

    def team(request: Request) -> wl.Team:
        return wl.team_of(web.settings, request.state.session.account, web.store, web.clock.now(), policy)

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

    def back(found: wl.Entry, **query: str) -> Response:
        """To the entry's page, saying what was done or why not."""
        return RedirectResponse(f"/outreach/{found.subject}?{urlencode(query)}", status_code=303)

    def on_entry(permission: Permission, act):
        """A handler for one open entry: 404 when the team has none of that id; `act(request, found,
        fields)` returns a Response, or what was done; a refusal it raises goes back as the error."""
        @needs(permission, web)
        async def handler(request: Request) -> Response:
            found = await find(request)
            if found is None:
                return refuse(request, web, 404, "no open worklist entry of that id")
            try:
                done = await act(request, found, await form(request))
            except (Refused, wl.AttemptRefused, ConsentError) as e:
                return back(found, error=str(e))
            return done if isinstance(done, Response) else back(found, done=done)
        return handler

    async def show(request: Request, found: wl.Entry, fields: dict) -> Response:
        await view(request, "outreach entry", found.subject, found.person)
        return await _page(request, found, [], 200)

    async def attempt(request: Request, found: wl.Entry, fields: dict) -> str:
        await asyncio.to_thread(wl.record_attempt, web.store, found.subject, found.person,
                                fields.get("method", ""), fields.get("outcome", ""), fields.get("note", ""),
                                request.state.session.account.username, web.clock.now())
        return "attempt"

    async def consent(request: Request, found: wl.Entry, fields: dict) -> Response | str:
        if found.kind != "consent":
            raise Refused("nothing is held for consent here")
        user, now = request.state.session.account.username, web.clock.now()
        full = await asyncio.to_thread(wl.entry, web.store, found.subject, replace(team(request), show_provider=True),
                                       now)  # the recipient the consent names, whether or not the team sees it
        record, artefact, missing = consentform.read(request, fields, found.subject, {"held": full.recipient}, now)
        if missing:
            await view(request, "consent capture (incomplete, not stored)", found.subject, found.person)
            return await _page(request, found, missing, 422)
        await consentform.keep(web, registry, found.person, record, artefact, fields, user, now)
        return "consent"

    async def revoke(request: Request, found: wl.Entry, fields: dict) -> str:
        consent_id = fields.get("consent_id", "")
        owned = {c.consent_id for c in await asyncio.to_thread(registry.consents, found.person)}
        if consent_id not in owned:
            raise Refused("no such consent for this person")
        user = request.state.session.account.username
        now = web.clock.now()
        await asyncio.to_thread(registry.revoke, consent_id, now, f"user:{user}")
        await consentform.published(web, registry, user, "consent-revoked", consent_id, now)
        return "revoked"

    return [Route("/outreach", listing), Route("/outreach/{subject}", on_entry(Permission.HOLDS, show)),
            Route("/outreach/{subject}/attempt", on_entry(Permission.HOLDS, attempt), methods=["POST"]),
            Route("/outreach/{subject}/consent", on_entry(Permission.CONSENTS, consent), methods=["POST"]),
            Route("/outreach/{subject}/revoke", on_entry(Permission.CONSENTS, revoke), methods=["POST"])]

