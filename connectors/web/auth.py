"""Who is asking: sessions from a cookie (pages) or a bearer token (scripts), CSRF, sign-in and out.

A page request carries the session cookie (HttpOnly, SameSite=Strict, Secure with the __Host-
prefix unless `web.secure_cookies` is off for plain-HTTP development). Every unsafe request
made with the cookie must carry the session's CSRF token (form field `csrf` or header
X-CSRF-Token); the sign-in form, before there is a session, uses a double-submit cookie. A
script signs in at POST /api/v1/session and sends `Authorization: Bearer <token>`: a browser
never attaches that header by itself, so bearer requests need no CSRF token.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from pipeline.audit.emit import admin_audit
from pipeline.clock import Clock
from pipeline.people import Accounts, Permission, Session, Sessions, SignInRefused
from pipeline.stage import Writer

log = logging.getLogger(__name__)
SIGNIN_COOKIE = "handoff_signin"
MAX_FIELD = 512
MAX_UPLOAD = 5 * 1024 * 1024  # one file per form (a signed consent form)


@dataclass
class Web:
    """What every handler needs, built once by `connectors.web.build_app`."""

    store: object
    accounts: Accounts
    sessions: Sessions
    writer: Writer
    clock: Clock
    settings: object
    templates: object  # jinja2.Environment

    @property
    def cookie(self) -> str:
        return "__Host-handoff" if self.settings.web.secure_cookies else "handoff_session"

    def page(self, request: Request, name: str, status: int = 200, **values) -> Response:
        session: Session | None = getattr(request.state, "session", None)
        html = self.templates.get_template(name).render(session=session, csrf=session.csrf_token if session else "",
                                                        path=request.url.path, **values)
        return Response(html, status_code=status, media_type="text/html; charset=utf-8")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def token_of(request: Request, web: Web) -> tuple[str, bool]:
    """(session token, came as a bearer header)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), True
    return request.cookies.get(web.cookie, ""), False


async def load_session(request: Request, web: Web) -> None:
    token, bearer = token_of(request, web)
    request.state.bearer = bearer
    request.state.session = await asyncio.to_thread(web.sessions.find, token, web.clock.now()) if token else None


def csrf_ok(request: Request, submitted: str) -> bool:
    session: Session | None = request.state.session
    if session is None:
        return False
    if request.state.bearer:
        return True
    sent = submitted or request.headers.get("x-csrf-token", "")
    return bool(sent) and hmac.compare_digest(sent, session.csrf_token)


def refuse(request: Request, web: Web, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return web.page(request, "error.html", status=status, message=message)


Handler = Callable[[Request], Awaitable[Response]]


def needs(permission: Permission | None, web: Web) -> Callable[[Handler], Handler]:
    """Wrap a handler: a session is required (else sign-in / 401), the permission too (else 403),
    and an unsafe method must carry the CSRF token (else 403)."""
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            session: Session | None = request.state.session
            if session is None:
                if wants_json(request):
                    return JSONResponse({"error": "sign in first"}, status_code=401)
                return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
            if permission is not None and not session.account.may(permission):
                return await web_refused(request, web, permission)
            if request.method not in ("GET", "HEAD"):
                fields = await form(request)
                if not csrf_ok(request, fields.get("csrf", "")):
                    return refuse(request, web, 403, "the form was not sent from this site's page (CSRF token "
                                                      "missing or wrong): reload the page and try again")
            return await handler(request)
        return guarded
    return wrap


async def web_refused(request: Request, web: Web, permission: Permission) -> Response:
    """A signed-in person without the role: refused, and the attempt is on record."""
    from pipeline.audit.emit import view_audit
    user = request.state.session.account.username
    await web.writer.write([view_audit(user, web.clock.now(), "dashboard", f"{permission.value} (refused)",
                                       query=request.url.path, outcome="refused")], [], [])
    return refuse(request, web, 403, f"your account's roles do not include the {permission.value} view")


async def form(request: Request) -> dict:
    if getattr(request.state, "form", None) is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = await request.form(max_files=1, max_fields=60)
            uploads = {k: v for k, v in sent.items() if not isinstance(v, str)}
            request.state.files = {k: (await v.read(MAX_UPLOAD + 1), v.content_type or "") for k, v in uploads.items()}
            request.state.form = {k: str(v)[:MAX_FIELD * 8] for k, v in sent.items() if k not in uploads}
        elif ctype.startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                body = {}
            request.state.form = {k: str(v)[:MAX_FIELD * 8] for k, v in body.items()} if isinstance(body, dict) else {}
        else:
            request.state.form = {}
    return request.state.form



# ---------------------------------------------------------------- sign-in and out

def routes(web: Web) -> list:
    from starlette.routing import Route

    async def signin_page(request: Request) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = web.page(request, "signin.html", signin_csrf=nonce, next=_safe_next(request.query_params.get("next")))
        response.set_cookie(SIGNIN_COOKIE, nonce, max_age=900, httponly=True, samesite="strict",
                            secure=web.settings.web.secure_cookies, path="/signin")
        return response

    async def signin(request: Request) -> Response:
        fields = await form(request)
        cookie = request.cookies.get(SIGNIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, fields.get("csrf", "")):
            return refuse(request, web, 403, "the sign-in form expired or was not sent from this site: try again")
        account, problem = await _sign_in(web, fields)
        if account is None:
            return web.page(request, "signin.html", status=401, error=problem, signin_csrf=cookie,
                            next=_safe_next(fields.get("next")), username=fields.get("username", "")[:64])
        session = await asyncio.to_thread(web.sessions.open, account, web.clock.now())
        response = RedirectResponse(_safe_next(fields.get("next")) or "/", status_code=303)
        response.set_cookie(web.cookie, session.token, max_age=int(web.sessions.lifetime.total_seconds()),
                            httponly=True, samesite="strict", secure=web.settings.web.secure_cookies, path="/")
        response.delete_cookie(SIGNIN_COOKIE, path="/signin")
        return response

    async def api_signin(request: Request) -> Response:
        account, problem = await _sign_in(web, await form(request))
        if account is None:
            return JSONResponse({"error": problem}, status_code=401)
        session = await asyncio.to_thread(web.sessions.open, account, web.clock.now())
        return JSONResponse({"token": session.token, "expires_at": session.expires_at.isoformat(),
                             "username": account.username, "roles": sorted(account.roles),
                             "organisation": account.organisation_id})

    @needs(None, web)
    async def signout(request: Request) -> Response:
        token, _ = token_of(request, web)
        await asyncio.to_thread(web.sessions.close, token, web.clock.now())
        if wants_json(request):
            return JSONResponse({"signed_out": True})
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(web.cookie, path="/")
        return response

    return [Route("/signin", signin_page, methods=["GET"]), Route("/signin", signin, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]), Route("/api/v1/session", api_signin, methods=["POST"]),
            Route("/api/v1/session", signout, methods=["DELETE"])]


async def _sign_in(web: Web, form: dict):
    username = form.get("username", "").strip().lower()[:64]
    password, code = form.get("password", "")[:MAX_FIELD], form.get("code", "")[:16]
    now = web.clock.now()
    try:
        return await asyncio.to_thread(web.accounts.sign_in, username, password, code, now), ""
    except SignInRefused as refused:
        log.info("sign-in refused for %s: %s", username or "-", refused.reason)
        if refused.locked and "locked until" in refused.reason:  # it locked just now: on record
            await web.writer.write([admin_audit(username, now, "account-locked", f"account:{username}",
                                                {"reason": refused.reason[:200]}, outcome="failure")], [], [])
        if refused.locked:
            return None, "This account is locked after repeated failed sign-ins. Try again later or ask an admin."
        return None, "Sign-in failed: the user name, password or code is not right."


def _safe_next(target: str | None) -> str:
    """Only a local path (no scheme, no //host): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:200]
    return ""
