"""The outreach pages: the worklist, one person's entry, contact attempts, consent capture and revocation.

    GET  /outreach                       the team's worklist, overdue first
    GET  /outreach/{subject}             one entry: how to find the person, attempts, the consent form
    POST /outreach/{subject}/attempt     method, outcome, note
    POST /outreach/{subject}/consent     the 2.31 / 164.508(c) form with the signed artefact (multipart)
    POST /outreach/{subject}/revoke      consent_id

Every open is a `view` audit record (channel dashboard, purpose outreach) acknowledged before
anything is shown. A complete consent goes through the registry as active and its set is produced
to `consent` at once (the consent stage then releases the held referrals); an incomplete one is
not stored and the page names what is missing. A team whose account's organisation is a
law-enforcement agency (settings edges.agencies) sees no recipient and no provider status.
"""
from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connectors.web.auth import Web, form, needs, refuse
from pipeline.audit.emit import admin_audit, view_audit
from pipeline.consent.registry import ConsentError, Registry, publish_pending
from pipeline.outreach import capture, worklist as wl
from pipeline.people import Permission
from pipeline.vocab import ConsentKind, DataCategory, Purpose


def shows_provider(settings, organisation: str) -> bool:
    agency = settings.edges.agencies.get(organisation or "")
    return agency is None or agency.kind != "law-enforcement"


def routes(web: Web) -> list[Route]:
    registry = Registry(web.store)

    def scope(request: Request) -> tuple[str, bool]:
        account = request.state.session.account
        return web.settings.programme_id, shows_provider(web.settings, account.organisation_id)

    async def view(request: Request, what: str, subject: str = "", person=None, outcome: str = "success") -> None:
        from pipeline.vocab import Purpose as P
        await web.writer.write([view_audit(request.state.session.account.username, web.clock.now(), "dashboard",
                                           what, person=person, referral_id=subject, purpose=P.OUTREACH,
                                           query=request.url.path, outcome=outcome)], [], [])

    async def find(request: Request):
        programme, provider = scope(request)
        subject = request.path_params["subject"]
        found = await asyncio.to_thread(wl.entry, web.store, subject, programme, web.clock.now(), provider)
        if found is None:
            await view(request, "outreach entry (none open)", subject, outcome="refused")
        return found

    @needs(Permission.HOLDS, web)
    async def listing(request: Request) -> Response:
        programme, provider = scope(request)
        await view(request, "outreach worklist")
        rows = await asyncio.to_thread(wl.worklist, web.store, programme, web.clock.now(), provider)
        return web.page(request, "outreach.html", rows=rows, provider=provider, programme=programme)

    async def _page(request: Request, found: wl.Entry, missing: list[str], status: int) -> Response:
        consents = await asyncio.to_thread(capture.consents_for, registry, found.person)
        return web.page(request, "outreach_entry.html", status=status, e=found, consents=consents,
                        provider=scope(request)[1], methods=wl.METHODS, outcomes=wl.OUTCOMES,
                        capacities=capture.CAPACITIES, categories=list(DataCategory), purposes=list(Purpose),
                        kinds=list(ConsentKind), missing=missing, fields=getattr(request.state, "form", None) or {},
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

    async def publish(user: str, what: str, consent_id: str) -> None:
        now = web.clock.now()
        await web.writer.write([admin_audit(user, now, what, f"consent:{consent_id}", {})], [], [])
        await publish_pending(registry, web.writer, now)

    @needs(Permission.CONSENTS, web)
    async def consent(request: Request) -> Response:
        found, fields = await find(request), await form(request)
        if found is None:
            return refuse(request, web, 404, "no open worklist entry of that id")
        user, now = request.state.session.account.username, web.clock.now()
        body, ctype = getattr(request.state, "files", {}).get("artefact", (b"", ""))
        artefact = capture.Artefact(body, ctype) if body else None
        full = await asyncio.to_thread(wl.entry, web.store, found.subject, scope(request)[0], now, True)
        record, missing = capture.from_form(fields, found.subject, full.recipient, artefact, now)
        if missing:
            await view(request, "consent capture (incomplete, not stored)", found.subject, found.person)
            return await _page(request, found, missing, 422)
        await asyncio.to_thread(capture.store_artefact, web.store, record.consent_id, artefact,
                                fields.get("signer", ""), fields.get("capacity", ""), user, now)
        try:
            await asyncio.to_thread(registry.put, found.person, record, now, f"user:{user}")
        except ConsentError as e:
            return RedirectResponse(f"/outreach/{found.subject}?error={quote(str(e))}", status_code=303)
        await publish(user, "consent-captured", record.consent_id)
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
        await asyncio.to_thread(registry.revoke, consent_id, web.clock.now(), f"user:{user}")
        await publish(user, "consent-revoked", consent_id)
        return RedirectResponse(f"/outreach/{found.subject}?done=revoked", status_code=303)

    return [Route("/outreach", listing), Route("/outreach/{subject}", show),
            Route("/outreach/{subject}/attempt", attempt, methods=["POST"]),
            Route("/outreach/{subject}/consent", consent, methods=["POST"]),
            Route("/outreach/{subject}/revoke", revoke, methods=["POST"])]

