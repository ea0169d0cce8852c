"""The provider inbox: pages and the JSON API over `inbox_item` (what the inbox connector delivered).

    GET  /inbox[?page=N]                 the organisation's referrals, newest first, PAGE_SIZE a page
    GET  /inbox/{referral_id}            one referral, read from exactly the delivered bytes
    GET  /inbox/{referral_id}/delivered/{delivery_id}   the delivered bytes themselves
    POST /inbox/{referral_id}/answer     accept | decline (reason) | contact | complete
    GET  /api/v1/referrals[?page=N]      the same as JSON (with next_page: null on the last page)
    GET  /api/v1/referrals/{referral_id}
    POST /api/v1/referrals/{referral_id}/answer   {"action": "...", "reason": "..."}

A provider sees only items addressed to its own organisation: anything else is "not found",
page and API alike. Every view is a `view` audit record (channel inbox) acknowledged by the
broker before anything is shown; a look at another organisation's referral is recorded as
refused. An answer is an audit record, then a `referral.status` event, both through the Writer.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from connectors.web.actions import ANSWERS, AnswerRefused, available, check, provider_status
from connectors.web.auth import Web, form, needs, refuse, wants_json
from connectors.web.readable import REDISCLOSURE, ReadError, read_bundle
from pipeline import records as r
from pipeline.audit.emit import answer_audit, view_audit
from pipeline.people import Permission
from pipeline.stage import Output

PAGE_SIZE = 100  # referrals a list page shows
ITEMS = ("SELECT i.delivery_id, i.referral_id, i.message_id, i.content_type, i.payload, i.received_at, s.state"
         " FROM inbox_item i LEFT JOIN referral_state s ON s.referral_id = i.referral_id")
NEWEST_FIRST = " ORDER BY i.received_at DESC, i.delivery_id DESC"


def _items(store, organisation: str, referral_id: str) -> list[dict]:
    """Every message delivered to the organisation for one referral, newest first."""
    with store.transaction() as tx:
        return tx.fetchall(f"{ITEMS} WHERE i.recipient_id = :org AND i.referral_id = :rid{NEWEST_FIRST}",
                           {"org": organisation, "rid": referral_id})


def _page(store, organisation: str, page: int) -> tuple[list[dict], bool]:
    """The messages of one page of the organisation's referrals (newest message first), and
    whether an older page follows."""
    with store.transaction() as tx:
        ids = [row["referral_id"] for row in tx.fetchall(
            "SELECT referral_id, MAX(received_at) AS newest FROM inbox_item WHERE recipient_id = :org"
            " GROUP BY referral_id ORDER BY newest DESC, referral_id DESC LIMIT :n OFFSET :skip",
            {"org": organisation, "n": PAGE_SIZE + 1, "skip": (page - 1) * PAGE_SIZE})]
        shown = ids[:PAGE_SIZE]
        if not shown:
            return [], False
        marks = ", ".join(f":r{i}" for i in range(len(shown)))
        rows = tx.fetchall(f"{ITEMS} WHERE i.recipient_id = :org AND i.referral_id IN ({marks}){NEWEST_FIRST}",
                           {"org": organisation, **{f"r{i}": rid for i, rid in enumerate(shown)}})
    return rows, len(ids) > PAGE_SIZE


def _page_number(request: Request) -> int | None:
    try:
        page = int(request.query_params.get("page", "1"))
    except ValueError:
        return None
    return page if 1 <= page <= 1_000_000 else None


def _summary(item: dict):
    try:
        return read_bundle(bytes(item["payload"]))
    except ReadError:
        return None


def _referrals(rows: list[dict]) -> list[dict]:
    """One entry per referral: its newest message, read, and how many messages it had."""
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row["referral_id"], {"row": row, "summary": _summary(row), "messages": 0})
        entry["messages"] += 1
    return list(out.values())


def routes(web: Web) -> list[Route]:
    async def view(request: Request, what: str, referral_id: str = "", outcome: str = "success") -> None:
        session = request.state.session
        await web.writer.write([view_audit(session.account.username, web.clock.now(), "inbox", what,
                                           referral_id=referral_id, query=request.url.path, outcome=outcome)], [], [])

    async def not_found(request: Request, referral_id: str) -> Response:
        await view(request, "referral (not addressed to this organisation, or none)", referral_id, "refused")
        return refuse(request, web, 404, "no such referral in your organisation's inbox")

    @needs(Permission.INBOX, web)
    async def inbox(request: Request) -> Response:
        org, page = request.state.session.account.organisation_id, _page_number(request)
        if page is None:
            return refuse(request, web, 400, "page must be a whole number from 1")
        await view(request, "inbox list" + (" (api)" if wants_json(request) else "") + (f" page {page}" if page > 1
                                                                                           else ""))
        rows, more = await asyncio.to_thread(_page, web.store, org, page)
        referrals, next_page = _referrals(rows), page + 1 if more else None
        if wants_json(request):
            return JSONResponse({"organisation": org, "page": page, "next_page": next_page, "referrals": [
                {"referral_id": e["row"]["referral_id"], "state": e["row"]["state"] or "requested",
                 "received_at": e["row"]["received_at"], "messages": e["messages"],
                 "service": e["summary"].service if e["summary"] else "",
                 "event": e["summary"].event if e["summary"] else ""} for e in referrals]})
        return web.page(request, "inbox.html", referrals=referrals, organisation=org, page=page, next_page=next_page)

    @needs(Permission.INBOX, web)
    async def referral(request: Request) -> Response:
        org, rid = request.state.session.account.organisation_id, request.path_params["referral_id"]
        rows = await asyncio.to_thread(_items, web.store, org, rid)
        if not rows:
            return await not_found(request, rid)
        await view(request, "referral" + (" (api)" if wants_json(request) else ""), rid)
        latest, state = rows[0], rows[0]["state"] or "requested"
        summary = _summary(latest)
        if wants_json(request):
            return JSONResponse({
                "referral_id": rid, "state": state, "organisation": org, "redisclosure": REDISCLOSURE,
                "summary": asdict(summary) if summary else None,
                "actions": [name for name, _ in available(state)],
                "messages": [{"delivery_id": m["delivery_id"], "message_id": m["message_id"],
                              "received_at": m["received_at"], "content_type": m["content_type"],
                              "payload": _payload(m)} for m in rows]})
        return web.page(request, "referral.html", rid=rid, state=state, summary=summary, messages=rows,
                        actions=available(state), redisclosure=REDISCLOSURE, done=request.query_params.get("done"),
                        error=request.query_params.get("error"))

    @needs(Permission.INBOX, web)
    async def delivered(request: Request) -> Response:
        org, rid = request.state.session.account.organisation_id, request.path_params["referral_id"]
        rows = [m for m in await asyncio.to_thread(_items, web.store, org, rid)
                if m["delivery_id"] == request.path_params["delivery_id"]]
        if not rows:
            return await not_found(request, rid)
        await view(request, f"delivered message {rows[0]['message_id']}", rid)
        return Response(bytes(rows[0]["payload"]), media_type=rows[0]["content_type"] or "application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{rows[0]["message_id"]}.json"'})

    @needs(Permission.INBOX, web)
    async def answer(request: Request) -> Response:
        account, rid = request.state.session.account, request.path_params["referral_id"]
        fields = await form(request)
        rows = await asyncio.to_thread(_items, web.store, account.organisation_id, rid)
        if not rows:
            return await not_found(request, rid)
        action, reason = fields.get("action", ""), fields.get("reason", "")
        try:
            check(action, reason, rows[0]["state"])
        except AnswerRefused as e:
            if wants_json(request):
                return JSONResponse({"error": str(e)}, status_code=409 if action in ANSWERS else 422)
            return RedirectResponse(f"/inbox/{rid}?error={_q(str(e))}", status_code=303)
        status = provider_status(rid, action, reason, account.organisation_id, account.username, web.clock.now(),
                                 web.settings.programme_id)
        channel = "inbox"
        await web.writer.write([answer_audit(account.username, status, channel, account.organisation_id, action)],
                               [Output("referral.status", r.ReferralKey(referral_id=rid), status)], [])
        if wants_json(request):
            return JSONResponse({"referral_id": rid, "state": status.state.value,
                                 "event_id": status.envelope.event_id}, status_code=202)
        return RedirectResponse(f"/inbox/{rid}?done={action}", status_code=303)

    return [Route("/inbox", inbox), Route("/inbox/{referral_id}", referral),
            Route("/inbox/{referral_id}/delivered/{delivery_id}", delivered),
            Route("/inbox/{referral_id}/answer", answer, methods=["POST"]),
            Route("/api/v1/referrals", inbox), Route("/api/v1/referrals/{referral_id}", referral),
            Route("/api/v1/referrals/{referral_id}/answer", answer, methods=["POST"])]


def _payload(item: dict):
    body = bytes(item["payload"])
    if "json" in (item["content_type"] or ""):
        try:
            return json.loads(body)
        except ValueError:
            pass
    return body.decode("utf-8", "replace")


def _q(text: str) -> str:
    from urllib.parse import quote
    return quote(text[:200])
