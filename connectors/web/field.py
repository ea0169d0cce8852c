"""The field referral form: an officer or a crew member refers a person on scene, from a phone.

    GET  /field      the form (for `responder` and `outreach` accounts whose organisation is an agency)
    POST /field      → a `field.referral`, exactly as POST /v1/field-referrals would make it; a receipt back

The account's organisation must be an agency in settings `edges.agencies` allowed to send
`field` documents: the agency is the sender, its role in law comes from the agency registry
(settings `agencies`). The form becomes the same JSON document the HTTP intake takes, parsed by
the same parser and committed through the same `Edge.commit` (audit first, acks=all, refusals as
dead letters with the document).

The consent is captured right there, or marked as not yet given (or agreed, to follow): "signs
now" is the same 42 CFR 2.31 / 45 CFR 164.508(c) capture as outreach's (connectors/web/consentform.py),
naming one of the directory's providers as the recipient, signed on the page's canvas or with a
photo of the signed form. An incomplete one sends nothing and names what it lacks; a complete
one goes through the registry as active under the person's token (the one the field-requests
stage computes) before the referral is committed, so the gate finds it when it decides.
What comes back is a receipt and the count received, and for a refused referral the reason:
nothing of what the referral became, for any agency.
"""
from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.common import Parsed
from connectors.edge.auth import Credentials
from connectors.edge.commit import Batch, Edge, EdgeMetrics, Unavailable, receipt_id
from connectors.field.parse import ADDRESS, CONSENT, parse_field_referrals
from connectors.web import consentform
from connectors.web.auth import Web, form, needs, refuse
from pipeline.consent.registry import ConsentError, Registry
from pipeline.episode import field_person
from pipeline.ids import digest
from pipeline.people import Permission
from pipeline.route import DirectorySource
from pipeline.vocab import Pathway, Service

ROLES = ("officer", "firefighter", "medic", "peer", "outreach")
PERSON = ("given", "family", "birth_date", "phone")
SIGNS_NOW = "signed"  # consent_status when the consent is captured on this form
CONSENT_LABELS = {"none": "not yet given", "verbal": "agreed verbally (outreach follows up)",
                  "proposed": "agreed, the form to follow", SIGNS_NOW: "signs the consent now (below)"}


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
    registry = Registry(web.store)
    directory = DirectorySource(s.routing.directory, s.routing.directory_ttl_seconds)

    def recipients() -> dict[str, str]:
        """To whom a consent on this form may name: the directory's providers (id → label)."""
        return {p.id: f"{p.name} ({', '.join(sorted(x.value for x in p.services))})"
                for p in sorted(directory.current().providers, key=lambda p: p.name)}

    async def agency_of(request: Request):
        """The account's agency, or the refusal to answer with."""
        agency = credentials.agencies.get(request.state.session.account.organisation_id or "")
        if agency is None or "field" not in agency.may_send:
            return None, refuse(request, web, 403, "your account's organisation is not an agency that may send field"
                                                   " referrals (settings edges.agencies, may_send field)")
        return agency, None

    async def page(request: Request, agency, status: int = 200, **values) -> Response:
        law = agency.law_enforcement
        to_whom = list((await asyncio.to_thread(recipients)).items())
        return web.page(request, "field.html", status=status, roles=ROLES, pathways=list(Pathway),
                        services=list(Service), consents=[(c, CONSENT_LABELS[c]) for c in sorted(CONSENT)],
                        agency=agency.id, to_whom=to_whom, **consentform.FORM,
                        default_pathway=(Pathway.OFFICER_INTERVENTION if law else Pathway.FIRST_RESPONDER).value,
                        default_role="officer" if law else "medic", **({"fields": {}, "missing": []} | values))

    @needs(Permission.FIELD_REFERRAL, web)
    async def show(request: Request) -> Response:
        agency, refused = await agency_of(request)
        return refused or await page(request, agency)

    @needs(Permission.FIELD_REFERRAL, web)
    async def submit(request: Request) -> Response:
        agency, refused = await agency_of(request)
        if refused:
            return refused
        fields, user = await form(request), request.state.session.account.username
        ctx = edge.context(agency)
        _, data = document(fields, user, ctx.received_at)
        results = await asyncio.to_thread(parse_field_referrals, data, ctx, content_type="application/json")
        referral = next((x.record for x in results if isinstance(x, Parsed)), None)
        if fields.get("consent_status") == SIGNS_NOW and referral is not None:
            choices = {k: k for k in await asyncio.to_thread(recipients)}
            record, artefact, missing = consentform.read(request, fields, referral.referral_id, choices,
                                                         ctx.received_at)
            if missing:  # nothing is sent: the officer completes the form or marks the consent otherwise
                return await page(request, agency, 422, fields=fields, missing=missing)
            person, _ = field_person(referral, s.security.linkage_keys)
            try:
                await consentform.keep(web, registry, person, record, artefact, fields, user, ctx.received_at)
            except ConsentError as e:
                return refuse(request, web, 409, f"not sent: {e}")
        try:
            done = await edge.commit("web-field", [Batch("field.referral", results)], data,
                                     f"web:field:{agency.id}:{user}", agency, ctx)
        except Unavailable:
            return refuse(request, web, 503, "not sent: the pipeline did not confirm in time; nothing was"
                                             " received, send it again")
        return await page(request, agency, 200 if done.accepted else 422, receipt=receipt_id(agency, data),
                          received=len(done.accepted), refused=[x.reason for x in done.refused])

    return [Route("/field", show, methods=["GET"]), Route("/field", submit, methods=["POST"])]
