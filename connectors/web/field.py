"""The field referral form: an officer or a crew member refers a person on scene, from a phone.

    GET  /field      the form (for `responder` and `outreach` accounts whose organisation is an agency)
    POST /field      → a `field.referral`, exactly as POST /v1/field-referrals would make it; a receipt back

The account's organisation must be an agency in settings `edges.agencies` allowed to send
`field` documents: the agency is the sender, its kind (law enforcement, fire, ...) comes from
that registry. The form becomes the same JSON document the HTTP intake takes, parsed by the
same parser and committed through the same `Edge.commit` (audit first, acks=all, refusals as
dead letters with the document). What comes back is a receipt and the count received, and for
a refused referral the reason: nothing of what the referral became, for any agency.
"""
from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.edge.auth import Credentials
from connectors.edge.commit import Batch, Edge, EdgeMetrics, Unavailable, receipt_id
from connectors.field.parse import CONSENT, parse_field_referrals
from connectors.web.auth import Web, form, needs, refuse
from pipeline.ids import digest
from pipeline.people import Permission
from pipeline.vocab import Pathway, Service

ROLES = ("officer", "firefighter", "medic", "peer", "outreach")
PERSON = ("given", "family", "birth_date", "phone")
ADDRESS = ("street", "city", "state", "zip")


def document(fields: dict, user: str, at) -> tuple[str, bytes]:
    """The intake's JSON document from the form's fields: (referral id, bytes)."""
    referral = "web-" + digest(user, at.isoformat(), length=16)
    scene = {k: fields.get(f"scene_{k}", "").strip() for k in ADDRESS}
    body = {"referral_id": referral, "referred_at": at.isoformat(), "pathway": fields.get("pathway", ""),
            "referrer": {"role": fields.get("referrer_role", ""), "id": user},
            "person": {k: fields.get(k, "").strip() for k in PERSON}
            | {"address": {k: fields.get(k, "").strip() for k in ADDRESS}},
            "services": [s.value for s in Service if fields.get(f"service_{s.value}")],
            "consent_status": fields.get("consent_status", "none"),
            "note": fields.get("note", "").strip()[:500]}
    if any(scene.values()):
        body["location"] = {"address": scene}
    if fields.get("incident_number", "").strip():
        body["incident_number"] = fields["incident_number"].strip()
    return referral, json.dumps(body, sort_keys=True).encode()


def routes(web: Web) -> list[Route]:
    s = web.settings
    credentials = Credentials(s.edges.agencies)
    edge = Edge(writer=web.writer, credentials=credentials, clock=web.clock, metrics=EdgeMetrics(),
                programme_id=s.programme_id, dispatch_centre_for=s.dispatch_centre_for,
                commit_timeout=s.edges.commit_timeout)

    def agency_of(request: Request):
        agency = credentials.agencies.get(request.state.session.account.organisation_id or "")
        return agency if agency is not None and "field" in agency.may_send else None

    def page(request: Request, status: int = 200, **values) -> Response:
        return web.page(request, "field.html", status=status, roles=ROLES, pathways=list(Pathway),
                        services=list(Service), consents=sorted(CONSENT), **values)

    @needs(Permission.FIELD_REFERRAL, web)
    async def show(request: Request) -> Response:
        agency = agency_of(request)
        if agency is None:
            return refuse(request, web, 403, "your account's organisation is not an agency that may send field"
                                             " referrals (settings edges.agencies, may_send field)")
        law = agency.law_enforcement
        return page(request, agency=agency.id,
                    default_pathway=(Pathway.OFFICER_INTERVENTION if law else Pathway.FIRST_RESPONDER).value,
                    default_role="officer" if law else "medic")

    @needs(Permission.FIELD_REFERRAL, web)
    async def submit(request: Request) -> Response:
        agency = agency_of(request)
        if agency is None:
            return refuse(request, web, 403, "your account's organisation is not an agency that may send field"
                                             " referrals")
        user = request.state.session.account.username
        ctx = edge.context(agency)
        _, data = document(await form(request), user, ctx.received_at)
        results = await asyncio.to_thread(parse_field_referrals, data, ctx, content_type="application/json")
        try:
            done = await edge.commit("web-field", [Batch("field.referral", results)], data,
                                     f"web:field:{agency.id}:{user}", agency, ctx)
        except Unavailable:
            return refuse(request, web, 503, "not sent: the pipeline did not confirm in time; nothing was"
                                             " received, send it again")
        return page(request, status=200 if done.accepted else 422, agency=agency.id,
                    receipt=receipt_id(agency, data), received=len(done.accepted),
                    refused=[x.reason for x in done.refused])

    return [Route("/field", show, methods=["GET"]), Route("/field", submit, methods=["POST"])]
