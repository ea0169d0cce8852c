"""The Consent endpoint: Starlette routes the intake app (connectors/edge) mounts.

    POST /v1/consents/                a FHIR Consent (application/fhir+json): add or replace → 201
    POST /v1/consents/{id}/$revoke    revoke from now → 200
    GET  /v1/consents/{id}            the registry's Consent → 200 | 404

    from starlette.routing import Mount
    service = ConsentService(Registry(store), authorize, publish=writer_or_None, clock=clock)
    routes.append(Mount("/v1/consents", routes=service.routes()))

`authorize(request) -> str | None` names the caller (e.g. "agency:outreach-1") or refuses
(401). A law-enforcement caller must be refused by `authorize` (no consent data to police).
The change is committed before the answer; then the person's consent set is produced to
`consent` (`publish`: a pipeline.stage.Writer); if that fails, the sweeper produces it later.
Answers carry ids and reasons, never names.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline.clock import Clock, SystemClock
from pipeline.consent.decide import missing_elements
from pipeline.consent.fhir import from_fhir, to_fhir
from pipeline.consent.registry import ConsentError, Registry, publish_pending
from pipeline.storage import StorageError

log = logging.getLogger(__name__)
CONTENT_TYPES = ("application/fhir+json", "application/json")
MAX_BODY = 2 * 1024 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class ConsentService:
    def __init__(self, registry: Registry, authorize: Callable[[Request], str | None], publish=None,
                 clock: Clock | None = None) -> None:
        self.registry = registry
        self.authorize = authorize
        self.publish = publish
        self.clock = clock or SystemClock()

    def routes(self) -> list[Route]:
        return [Route("/", self.add, methods=["POST"]),
                Route("/{consent_id}/$revoke", self.revoke, methods=["POST"]),
                Route("/{consent_id}", self.show, methods=["GET"])]

    async def _produce(self) -> None:
        if self.publish is None:
            return
        try:
            await asyncio.wait_for(publish_pending(self.registry, self.publish, self.clock.now()), timeout=10.0)
        except Exception as e:  # committed already; the sweeper produces it on its next pass
            log.warning("consent http: producing the consent set failed (%s); left to the sweeper",
                        type(e).__name__)

    async def add(self, request: Request) -> JSONResponse:
        actor = self.authorize(request)
        if actor is None:
            return _error(401, "a valid credential is required")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() not in CONTENT_TYPES:
            return _error(415, f"send a FHIR Consent as {' or '.join(CONTENT_TYPES)}")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"body exceeds {MAX_BODY} bytes")
        try:
            person, consent = from_fhir(json.loads(body))
        except (ValueError, ConsentError) as e:  # json errors are ValueErrors
            return _error(422, str(e) if isinstance(e, ConsentError) else "body is not JSON")
        try:
            consent_set = await asyncio.to_thread(self.registry.put, person, consent, self.clock.now(), actor,
                                                  body.decode("utf-8", "replace"))
        except ConsentError as e:
            return _error(409, str(e))
        except StorageError:
            return _error(503, "the consent registry is unavailable; nothing was stored, resend")
        await self._produce()
        missing = missing_elements(consent)
        return JSONResponse({"id": consent.consent_id, "status": consent.status.value,
                             "registry_version": consent_set.registry_version,
                             "complete": not missing, "missing_elements": missing}, status_code=201)

    async def revoke(self, request: Request) -> JSONResponse:
        actor = self.authorize(request)
        if actor is None:
            return _error(401, "a valid credential is required")
        consent_id = request.path_params["consent_id"]
        try:
            consent_set = await asyncio.to_thread(self.registry.revoke, consent_id, self.clock.now(), actor)
        except ConsentError as e:
            return _error(404, str(e))
        except StorageError:
            return _error(503, "the consent registry is unavailable; nothing was changed, resend")
        await self._produce()
        return JSONResponse({"id": consent_id, "status": "inactive", "revoked": True,
                             "registry_version": consent_set.registry_version})

    async def show(self, request: Request) -> JSONResponse:
        actor = self.authorize(request)
        if actor is None:
            return _error(401, "a valid credential is required")
        try:
            found = await asyncio.to_thread(self.registry.find, request.path_params["consent_id"])
        except StorageError:
            return _error(503, "the consent registry is unavailable")
        if found is None:
            return _error(404, "no such consent")
        person, consent = found
        if self.publish is not None:  # a view of person-level data is on record before it is shown
            from pipeline.audit.emit import view_audit

            audit = view_audit(actor, self.clock.now(), "http", f"consent {consent.consent_id}", person=person)
            try:
                await asyncio.wait_for(self.publish.write([audit], [], []), timeout=10.0)
            except Exception as e:  # not on record, so not shown
                log.warning("consent http: view audit failed (%s)", type(e).__name__)
                return _error(503, "the view could not be recorded; try again")
        return JSONResponse(to_fhir(person, consent), media_type="application/fhir+json")
