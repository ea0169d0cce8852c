"""The web service (`handoff serve web`): sign-in, the provider inbox, the privacy officer's page.

    web = build_web(settings, store, writer, clock)     # connectors/web/auth.Web
    app = build_app(web)                                # a Starlette app
    server = web_server(settings, app)                  # uvicorn, TLS when web.tls_cert/tls_key are set

Plain server-rendered HTML (templates/, Jinja2 with autoescaping), one small local
stylesheet and one small local script (static/signature.js: a signature drawn on the consent
forms; every page works without it); no CDN. Every response carries a strict Content-Security-Policy and
no-store caching; HSTS when served over TLS. Sessions and roles: pipeline/people.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connectors.web import auth, config, field, inbox, links, operations, outreach, privacy, reports
from connectors.web.auth import Web, needs
from pipeline.clock import Clock, SystemClock
from pipeline.people import Accounts, Lockout, Passwords, Permission, Sessions
from pipeline.settings import Settings
from pipeline.stage import Writer
from pipeline.storage import StorageError

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
RETRY_AFTER_SECONDS = 5
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self';"
                               " frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY",
    "cache-control": "no-store", "cross-origin-opener-policy": "same-origin",
}


def build_web(settings: Settings, store, writer: Writer, clock: Clock | None = None,
              passwords: Passwords | None = None) -> Web:
    w = settings.web
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                   undefined=jinja2.StrictUndefined)
    return Web(store=store, accounts=Accounts(store, passwords, Lockout(w.lockout_failures, w.lockout_minutes)),
               sessions=Sessions(store, timedelta(minutes=w.session_idle_minutes), timedelta(hours=w.session_hours)),
               writer=writer, clock=clock or SystemClock(), settings=settings, templates=templates)


class _Guard:
    """Loads the session of every request and adds the security headers to every answer."""

    def __init__(self, app, web: Web, tls: bool) -> None:
        self.app, self.web, self.tls = app, web, tls

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        extra = list(HEADERS.items()) + ([("strict-transport-security", "max-age=31536000")] if self.tls else [])
        started = False

        async def with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(k.encode(), v.encode()) for k, v in extra
                                                                 if k.encode() not in names]
            await send(message)
        try:
            await auth.load_session(request, self.web)
            scope.setdefault("state", {}).update(session=request.state.session, bearer=request.state.bearer)
            await self.app(scope, receive, with_headers)
        except StorageError as e:  # the database locked by a long write, or away: try again, not a 500
            if not e.transient or started:
                raise
            log.warning("web: %s %s answered 503: database %s", request.method, request.url.path, type(e).__name__)
            busy = auth.refuse(request, self.web, 503, "The database is busy: try again in a few seconds.")
            busy.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
            await busy(scope, receive, with_headers)


def build_app(web: Web, gate=None) -> Starlette:
    if gate is None:
        from pipeline.consent.gate import Gate
        from pipeline.consent.policy import load_policy
        gate = Gate(web.store, load_policy(web.settings.consent.policy))

    @needs(None, web)
    async def home(request: Request) -> Response:
        account = request.state.session.account
        if account.may(Permission.INBOX):
            return RedirectResponse("/inbox", status_code=303)
        if account.may(Permission.AUDIT_STATE):
            return RedirectResponse("/privacy", status_code=303)
        if account.may(Permission.HOLDS):
            return RedirectResponse("/outreach", status_code=303)
        if account.may(Permission.FIELD_REFERRAL):
            return RedirectResponse("/field", status_code=303)
        if account.may(Permission.OPERATIONS):
            return RedirectResponse("/operations", status_code=303)
        if account.may(Permission.REPORTS):
            return RedirectResponse("/reports", status_code=303)
        if account.may(Permission.CONFIGURATION):
            return RedirectResponse("/admin/config", status_code=303)
        return web.page(request, "home.html", account=account)

    routes = [Route("/", home), *health_routes(web.settings), *auth.routes(web), *inbox.routes(web),
              *privacy.routes(web, gate), *outreach.routes(web), *field.routes(web), *links.routes(web),
              *operations.routes(web), *reports.routes(web), *config.routes(web),
              Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    tls = bool(web.settings.web.tls_cert and web.settings.web.tls_key)
    return Starlette(routes=routes, middleware=[Middleware(_Guard, web=web, tls=tls)])


def health_routes(settings: Settings) -> list[Route]:
    """/healthz (the service answers) and /readyz (broker, database, directory answer; 503 otherwise)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse

    from pipeline.health import run_probes
    from pipeline.readiness import service_probes

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        ready, lines = await run_in_threadpool(run_probes, service_probes(settings))
        return PlainTextResponse("\n".join(lines) + "\n", status_code=200 if ready else 503)
    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def web_server(settings: Settings, app) -> uvicorn.Server:
    w = settings.web
    options: dict = dict(host=w.host, port=w.port, lifespan="off", log_level="warning", access_log=False,
                         server_header=False, proxy_headers=False)
    if w.tls_cert is not None and w.tls_key is not None:
        options |= dict(ssl_certfile=str(w.tls_cert), ssl_keyfile=str(w.tls_key))
    return uvicorn.Server(uvicorn.Config(app, **options))
