"""The Direct message: a readable summary and the FHIR Bundle attached, nothing personal in headers."""
from __future__ import annotations

import email
from email import policy

from pipeline.render import default_redaction, render
from pipeline.vocab import Basis, Format, Variant
from tests.unit.render import cases as c
from tests.unit.render.support import valid_bundle

SOURCES = [c.ems_run(), c.incident()]


def direct(variant=Variant.FULL, part2=False):
    request, recipient = c.ems_request(), c.provider("direct")
    decision = c.decision(request, recipient, variant, Basis.PART2_CONSENT if part2 else Basis.HIPAA_TREATMENT, part2)
    payload = render(request, SOURCES, decision, recipient, redaction=default_redaction())
    fhir = render(request, SOURCES, decision, recipient, redaction=default_redaction(), format=Format.FHIR_R4)
    return payload, fhir, email.message_from_bytes(payload.body, policy=policy.default)


def test_summary_and_attached_bundle():
    payload, fhir, mail = direct(part2=True)
    assert payload.format == Format.DIRECT and payload.content_type == "message/rfc822"
    assert mail["To"] == "referrals@direct.bridge.example" and mail["Message-ID"] == f"<{payload.message_id}@handoff>"
    text, attachment = [part for part in mail.iter_parts()]
    summary = text.get_content()
    assert "Person: Morgan J Quillfeather" in summary and "Naloxone given" in summary and c.NOTICE in summary
    assert attachment.get_content_type() == "application/fhir+json"
    assert attachment.get_content() == fhir.body  # the very Bundle a FHIR recipient gets
    valid_bundle(attachment.get_content(), Variant.FULL)
    headers = "".join(f"{k}: {v}\n" for k, v in mail.items())
    assert "Quillfeather" not in headers and "Morgan" not in headers


def test_deterministic_and_redacted():
    first, _, _ = direct(Variant.NO_SUD)
    again, _, mail = direct(Variant.NO_SUD)
    assert first.body == again.body
    summary = next(mail.iter_parts()).get_content()
    assert "opiate" not in summary.lower() and "Naloxone" not in summary and "T40" not in summary
    assert "Mental disorder (SNOMED CT 74732009)" in summary and "42 CFR" not in summary
