"""Rendering: the exact bytes a permitted recipient receives. Pure and deterministic.

    payload = render(request, sources, decision, provider, action=Action.CREATE, redaction=redaction)
    payload = render_cancel(referral_id, person, provider, reason, at, referring=referring_party(request, sources))

`sources` are the request's source records (EmsRun, DispatchIncident, FieldReferral), read
before rendering (pipeline.episode.state.load_sources); `redaction` is `Redaction.of(policy)`
for the consent policy that decided. The format follows the recipient's endpoint
(`format_for`): fhir-rest, inbox and webhook take the FHIR R4 message Bundle (fhir.py),
hl7v2-mllp takes REF^I12/I13/I14 (hl7.py), direct takes a MIME message with a summary and the
Bundle attached (direct.py). What each variant may carry is decided once, in content.py.

Ids derive from the referral identity (ids.py): the same input renders the same bytes; the message
id adds the action and a digest of the content the recipient receives (`Payload.content_digest`,
which delivery reuses), so another variant, an update or a cancellation is a new message about the
same referral and a resend of the same content is the same message. Timestamps come from the events
rendered, never the wall clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Sequence

from pipeline import records as r
from pipeline.consent.policy import load_policy
from pipeline.ids import referral_id
from pipeline.render import direct, fhir, hl7
from pipeline.render.content import (Content, Party, Redaction, cancellation, clean, digest_of, extract,
                                     referring_party)
from pipeline.vocab import Action, Format, Outcome

__all__ = ["Party", "Payload", "Redaction", "RenderError", "default_redaction", "format_for", "referring_party",
           "render", "render_cancel", "render_content"]

FORMATS = {"fhir-rest": Format.FHIR_R4, "inbox": Format.FHIR_R4, "webhook": Format.FHIR_R4,
           "hl7v2-mllp": Format.HL7V2, "direct": Format.DIRECT}
CONTENT_TYPES = {Format.FHIR_R4: fhir.FHIR_JSON, Format.HL7V2: hl7.HL7_CONTENT_TYPE,
                 Format.DIRECT: direct.DIRECT_CONTENT_TYPE}


class RenderError(ValueError):
    """A payload that must not be rendered (no permit, unknown endpoint kind): permanent."""


@dataclass(frozen=True)
class Payload:
    format: Format
    content_type: str
    message_id: str
    body: bytes
    action: Action = Action.CREATE
    content_digest: str = ""  # what the recipient receives, without the message's own ids and timestamps


def format_for(endpoint_kind: str) -> Format:
    try:
        return FORMATS[endpoint_kind]
    except KeyError:
        raise RenderError(f"no format for endpoint kind {endpoint_kind!r}") from None


@lru_cache(maxsize=1)
def default_redaction() -> Redaction:
    """The sample consent policy's tables (the CLI preview and tests); the pipeline passes its own."""

    return Redaction.of(load_policy())


def render(request: r.ReferralRequest, sources: Sequence[r.Record], decision: r.Decision, recipient, *,
           action: Action = Action.CREATE, redaction: Redaction, format: Format | None = None) -> Payload:
    """The payload for one permitted (request, recipient, variant); `recipient` is a route Provider."""
    if decision.outcome not in (Outcome.PERMIT, Outcome.PERMIT_REDACTED) or decision.variant is None:
        raise RenderError(f"decision {decision.outcome.value} does not permit a disclosure")
    if decision.recipient_id != recipient.id:
        raise RenderError("the decision is for another recipient")
    if action == Action.CANCEL:
        raise RenderError("a cancellation is rendered by render_cancel")
    if decision.notice and not clean(decision.notice):
        raise RenderError("a Part 2 decision without a readable 42 CFR 2.32 notice")
    content = extract(request, sources, decision, recipient, action, redaction)
    return render_content(content, format or format_for(recipient.endpoint.kind))


def render_cancel(referral: str, person: r.PersonKey, recipient, reason: str, at: datetime, *, referring: Party,
                  format: Format | None = None) -> Payload:
    """Tell a recipient that a referral it holds is cancelled (Task cancelled, REF^I14): ids,
    linkage identifier and reason only, so it discloses nothing new. `referring` is the party the
    cancelled referral named (`referring_party(request, sources)`), so the I14 names the I12's sender."""
    content = cancellation(referral, person, recipient, reason, at, referring)
    return render_content(content, format or format_for(recipient.endpoint.kind))


def render_content(content: Content, format: Format) -> Payload:
    """One builder per format, all from the same Content."""
    if format == Format.HL7V2:
        body = hl7.message(content)
    elif format in (Format.FHIR_R4, Format.INBOX):
        body = fhir.serialise(fhir.bundle(content))
    elif format == Format.DIRECT:
        body = direct.message(content, fhir.serialise(fhir.bundle(content)))
    else:
        raise RenderError(f"format {format!r} is not rendered")
    return Payload(format, CONTENT_TYPES.get(format, fhir.FHIR_JSON), content.message_id, body, content.action,
                   digest_of(content))
