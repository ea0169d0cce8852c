"""Link review: requests held because the person match is uncertain, to confirm or split.

    GET  /links                         the queue, oldest first (what the two records say of the person)
    POST /links/{referral_id}/confirm   a new revision of the request, match exact → referral.request
    POST /links/{referral_id}/split     not the same person: the hold is closed, nothing was sent; the
                                        request again under a person key and episode of its own

For accounts with the holds permission (outreach, privacy officer). Every open is a view audit
record; each decision an admin audit record written with (before) its output through the Writer.
The confirmed revision meets the refer stage and the consent gate like any other request.
"""
from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connectors.web.auth import Web, needs
from pipeline.audit.emit import admin_audit, view_audit
from pipeline.outreach import links
from pipeline.people import Permission
from pipeline.stage import Output
from pipeline.vocab import Purpose


def routes(web: Web) -> list[Route]:
    @needs(Permission.HOLDS, web)
    async def queue(request: Request) -> Response:
        user = request.state.session.account.username
        await web.writer.write([view_audit(user, web.clock.now(), "dashboard", "link review queue",
                                           purpose=Purpose.OUTREACH, query=request.url.path)], [], [])
        rows = await asyncio.to_thread(links.queue, web.store, web.settings.programme_id)
        return web.page(request, "links.html", rows=rows, done=request.query_params.get("done", ""),
                        error=request.query_params.get("error", ""))

    async def decide(request: Request, action: str) -> Response:
        user, now = request.state.session.account.username, web.clock.now()
        rid = request.path_params["referral_id"]
        keys = web.settings.security.linkage_keys
        try:
            request_record = await asyncio.to_thread(links.confirm, web.store, rid, user, now) if action == "confirm" \
                else await asyncio.to_thread(links.split, web.store, rid, user, now, keys)
        except links.LinkError as e:
            return RedirectResponse(f"/links?error={quote(str(e))}", status_code=303)
        audit = admin_audit(user, now, f"link-{action}", f"referral:{rid}",
                            {"request_id": request_record.request_id, "person": request_record.person.person_token})
        await web.writer.write([audit], [Output("referral.request", request_record.person, request_record)], [])
        return RedirectResponse(f"/links?done={action}", status_code=303)

    @needs(Permission.HOLDS, web)
    async def confirm(request: Request) -> Response:
        return await decide(request, "confirm")

    @needs(Permission.HOLDS, web)
    async def split(request: Request) -> Response:
        return await decide(request, "split")

    return [Route("/links", queue), Route("/links/{referral_id}/confirm", confirm, methods=["POST"]),
            Route("/links/{referral_id}/split", split, methods=["POST"])]
