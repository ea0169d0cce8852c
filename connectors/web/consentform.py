"""The consent capture both pages share: the outreach entry and the field referral form.

    record, artefact, missing = read(request, fields, subject, choices, now)   # missing: nothing stored
    await keep(web, registry, person, record, artefact, fields, user, now)     # artefact, registry, audit, `consent`
    web.page(..., **FORM)                                                      # what the form macro lists

The form is the template macro `consent_fields` (templates/_macros.html): every 42 CFR 2.31(a)
element, the HIPAA 164.508(c) statements, who signed and in what capacity, and the signed form
(an uploaded PDF or image, or a signature drawn on the canvas, which the page's script puts in
the same file field as a PNG). `keep` stores the artefact under its SHA-256, puts the consent
through the registry as active, writes the admin audit record and produces the person's consent
set to `consent` at once (the consent stage releases what it permits).
"""
from __future__ import annotations

import asyncio
from datetime import datetime

from starlette.requests import Request

from connectors.web.auth import Web
from pipeline import records as r
from pipeline.audit.emit import admin_audit
from pipeline.consent.registry import Registry, publish_pending
from pipeline.outreach import capture
from pipeline.vocab import ConsentKind, DataCategory, Purpose

FORM = dict(capacities=capture.CAPACITIES, categories=list(DataCategory), purposes=list(Purpose),
            kinds=list(ConsentKind))


def read(request: Request, fields: dict, subject: str, choices: dict[str, str],
         now: datetime) -> tuple[r.ConsentRecord, capture.Artefact | None, list[str]]:
    """The consent the submitted form describes, its signed artefact, and what it lacks."""
    body, ctype = getattr(request.state, "files", {}).get("artefact", (b"", ""))
    artefact = capture.Artefact(body, ctype) if body else None
    record, missing = capture.from_form(fields, subject, choices, artefact, now)
    return record, artefact, missing


async def keep(web: Web, registry: Registry, person: r.PersonKey, record: r.ConsentRecord,
               artefact: capture.Artefact, fields: dict, user: str, now: datetime) -> None:
    """Store a complete consent (ConsentError when the id belongs to another person) and publish it."""
    await asyncio.to_thread(capture.store_artefact, web.store, record.consent_id, artefact, fields.get("signer", ""),
                            fields.get("capacity", ""), user, now)
    await asyncio.to_thread(registry.put, person, record, now, f"user:{user}")
    await published(web, registry, user, "consent-captured", record.consent_id, now)


async def published(web: Web, registry: Registry, user: str, what: str, consent_id: str, now: datetime) -> None:
    """The admin audit record of a consent change, then the changed sets produced to `consent`."""
    await web.writer.write([admin_audit(user, now, what, f"consent:{consent_id}", {})], [], [])
    await publish_pending(registry, web.writer, now)
