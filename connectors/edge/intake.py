"""HTTP intake: one ASGI app (starlette) for ePCRs, CAD and field referrals.

  POST /v1/nemsis            application/xml: a NEMSIS v3.5.1 EMSDataSet → ems.run
  POST /v1/eido              application/json: a NENA EIDO document → dispatch.incident
  POST /v1/cad               text/csv, application/x-ndjson: a CAD export → dispatch.incident
  POST /v1/field-referrals   application/json, text/csv: field referrals → field.referral
  /v1/consents/...           the consent registry's FHIR Consent endpoint (pipeline/consent/http.py), for
                             agencies allowed to send "consent"; never a law-enforcement agency
  GET  /healthz              liveness (no credential, no data)

Every POST needs the agency's credential: a client certificate (mutual TLS) or its key in
`X-API-Key`. No or an unknown credential → 401; an agency posting a kind it may not send →
403; both counted, never written to Kafka. Then: 413 for a body over the limit, 415 for an
unsupported content type (both dead-lettered with the bytes), else the document is parsed and
committed (edge.py `Edge.commit`). The answer comes only after the broker acknowledged every
record and dead letter with acks=all: 200 with per-record results when at least one record
was accepted, 422 when all were refused (each refusal is a dead letter with the original
bytes), 503 with Retry-After when the broker did not commit in time (nothing accepted; a
resend repeats the event ids). CAD incidents closed as "referred to partner agency" (APCO
15) also become field referrals in the same submission (connectors/field/dispatch.py).

A law-enforcement sender gets only a receipt: a receipt id, how many records were received
and the refusals of its own input; no ids of what was made of them and no status, ever
(DESIGN.md: treatment status never flows to a law-enforcement system).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from connectors import parsers
from connectors.common import ParseContext, ParseResult, Refused
from connectors.edge.auth import API_KEY_HEADER, Agency
from connectors.edge.commit import Batch, Committed, Edge, Unavailable, receipt_id

log = logging.getLogger(__name__)


def _partner_referrals(results: list[ParseResult], ctx: ParseContext) -> list[Batch]:
    from connectors.field import referrals_from_incidents
    derived = referrals_from_incidents(results, ctx)
    return [Batch("field.referral", derived)] if derived else []


# The kinds posted here (their parsers, topics and content types: connectors/parsers.py), by path,
# and what a kind's records bring with them besides their own batch.
PATHS = {"nemsis": "/v1/nemsis", "eido": "/v1/eido", "cad": "/v1/cad", "field": "/v1/field-referrals"}
DERIVED: dict[str, Callable[[list[ParseResult], ParseContext], list[Batch]]] = {
    "eido": _partner_referrals, "cad": _partner_referrals}


class BodyTooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class Intake:
    def __init__(self, edge: Edge, max_body_bytes: int = 20 * 1024 * 1024, consents=None) -> None:
        """`consents`: a pipeline.consent.http.ConsentService to mount at /v1/consents, or None."""
        self.edge = edge
        self.max_body_bytes = max_body_bytes
        self.consents = consents

    def consent_actor(self, request: Request) -> str | None:
        """Who may post or revoke a consent: an agency allowed to, never law enforcement."""
        der = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_der")
        agency = self.edge.credentials.by_cert(der) or self.edge.credentials.by_key(request.headers.get(API_KEY_HEADER))
        if agency is None or agency.law_enforcement or "consent" not in agency.may_send:
            self.edge.metrics.unauthenticated.labels("http-consent", "missing" if agency is None else "forbidden").inc()
            return None
        return f"agency:{agency.id}"

    def authenticate(self, request: Request, kind: parsers.Kind) -> Agency | JSONResponse:
        metrics = self.edge.metrics
        der = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_der")
        key = request.headers.get(API_KEY_HEADER)
        agency = self.edge.credentials.by_cert(der) or self.edge.credentials.by_key(key)
        if agency is None:
            reason = "invalid" if (der or key) else "missing"
            metrics.unauthenticated.labels(f"http-{kind.name}", reason).inc()
            return _error(401, "a valid client certificate or X-API-Key is required",
                          **{"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
        if kind.name not in agency.may_send:
            metrics.unauthenticated.labels(f"http-{kind.name}", "forbidden").inc()
            return _error(403, f"this agency may not send {kind.name} documents")
        return agency

    async def handle(self, request: Request, kind: parsers.Kind) -> JSONResponse:
        started = time.perf_counter()
        edge_name = f"http-{kind.name}"
        try:
            response = await self._handle(request, kind, edge_name)
        except Exception as error:  # a bug must not leak a stack trace or an acceptance
            log.error("%s: %s while handling a request", edge_name, type(error).__name__)
            response = _error(500, "internal error; nothing was accepted, resend later")
        outcome = {200: "accepted", 422: "refused", 503: "unavailable", 401: "unauthenticated",
                   403: "forbidden"}.get(response.status_code, str(response.status_code))
        self.edge.metrics.requests.labels(edge_name, outcome).inc()
        self.edge.metrics.seconds.labels(edge_name).observe(time.perf_counter() - started)
        return response

    async def _handle(self, request: Request, kind: parsers.Kind, edge_name: str) -> JSONResponse:
        agency = self.authenticate(request, kind)
        if isinstance(agency, JSONResponse):
            return agency
        ctx = self.edge.context(agency)
        origin = f"http:{kind.name}:{agency.id}"
        try:
            data = await _body(request, self.max_body_bytes)
        except BodyTooLarge:
            await self._dead_letter(kind, edge_name, b"", f"body exceeds {self.max_body_bytes} bytes (not kept)",
                                    origin, agency, ctx)
            return _error(413, f"body exceeds {self.max_body_bytes} bytes")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in kind.content_types:
            reason = f"content type {content_type or 'none'!r} is not one of {', '.join(kind.content_types)}"
            await self._dead_letter(kind, edge_name, data, reason, origin, agency, ctx)
            return _error(415, reason)
        results = await asyncio.to_thread(kind.parse, data, ctx, content_type)
        derive = DERIVED.get(kind.name)
        batches = [Batch(kind.topic, results)] + (derive(results, ctx) if derive else [])
        try:
            done = await self.edge.commit(edge_name, batches, data, origin, agency, ctx)
        except Unavailable:
            return _error(503, "not stored: the broker did not acknowledge in time; nothing was accepted, resend",
                          **{"Retry-After": "5"})
        return JSONResponse(_answer(done, agency, data), status_code=200 if done.accepted else 422)

    async def _dead_letter(self, kind: parsers.Kind, edge_name: str, data: bytes, reason: str, origin: str, agency: Agency,
                           ctx: ParseContext) -> None:
        try:
            await self.edge.commit(edge_name, [Batch(kind.topic, [Refused(None, reason)])], data, origin, agency, ctx)
        except Unavailable:
            pass  # the sender still gets its 4xx: resending the same bad input would not help

    def app(self) -> Starlette:
        routes = [Route("/healthz", _health, methods=["GET"])]
        for name, path in PATHS.items():
            kind = parsers.kind(name)
            routes.append(Route(path, functools.partial(self.handle, kind=kind), methods=["POST"]))
        if self.consents is not None:
            routes.append(Mount("/v1/consents", routes=self.consents.routes()))
        return Starlette(routes=routes)


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _answer(done: Committed, agency: Agency, raw: bytes) -> dict:
    refused = [{"record_id": x.record_id, "reason": x.reason, "detail": list(x.detail)} for x in done.refused]
    if agency.law_enforcement:  # a receipt, nothing about what the records became
        return {"receipt": receipt_id(agency, raw), "received": len(done.accepted),
                "refused": [{"record_id": x["record_id"], "reason": x["reason"]} for x in refused]}
    accepted = [{"record_id": rec.envelope.source_record_id, "event_id": rec.envelope.event_id, "topic": topic}
                for topic, rec in done.accepted]
    return {"receipt": receipt_id(agency, raw), "accepted": accepted, "refused": refused}
