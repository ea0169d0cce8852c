"""The golden renders: name -> payload. Files in golden/ pin them byte for byte."""
from __future__ import annotations

from pipeline.render import Payload, default_redaction, referring_party, render, render_cancel
from pipeline.vocab import Action, Basis, Format, Variant
from tests.unit.render import cases as c

EXTENSIONS = {Format.FHIR_R4: "json", Format.HL7V2: "hl7", Format.DIRECT: "eml"}


def _ems(kind: str, variant=Variant.FULL, basis=Basis.HIPAA_TREATMENT, part2=False, revision=1,
         action=Action.CREATE) -> Payload:
    request, recipient = c.ems_request(revision=revision), c.provider(kind)
    return render(request, [c.ems_run(), c.incident()], c.decision(request, recipient, variant, basis, part2),
                  recipient, action=action, redaction=default_redaction())


def _field() -> Payload:
    request, recipient = c.field_request(), c.provider("inbox", pid="org-peer-recovery", hcp=False)
    return render(request, [c.field_referral()], c.decision(request, recipient, basis=Basis.HIPAA_AUTHORIZATION),
                  recipient, redaction=default_redaction())


def _cancel(kind: str) -> Payload:
    request, recipient = c.ems_request(), c.provider(kind)
    return render_cancel(c.decision(request, recipient).referral_id, c.PERSON, recipient, "consent revoked",
                         c.T0, referring=referring_party(request, [c.ems_run(), c.incident()]))


CASES = {
    "ems-full-part2": lambda: _ems("fhir-rest", basis=Basis.PART2_CONSENT, part2=True),
    "ems-full-part2-ref": lambda: _ems("hl7v2-mllp", basis=Basis.PART2_CONSENT, part2=True),
    "ems-full-part2-direct": lambda: _ems("direct", basis=Basis.PART2_CONSENT, part2=True),
    "ems-no-sud": lambda: _ems("fhir-rest", Variant.NO_SUD),
    "ems-outreach-only": lambda: _ems("inbox", Variant.OUTREACH_ONLY),
    "ems-update": lambda: _ems("fhir-rest", revision=2, action=Action.UPDATE),
    "ems-update-ref": lambda: _ems("hl7v2-mllp", revision=2, action=Action.UPDATE),
    "field-authorisation": _field,
    "cancel": lambda: _cancel("fhir-rest"),
    "cancel-ref": lambda: _cancel("hl7v2-mllp"),
}


def rendered() -> dict[str, Payload]:
    return {name: make() for name, make in CASES.items()}
