"""The Direct message: a readable summary plus the FHIR Bundle as an attachment (MIME, RFC 5322).

The connector signs and encrypts it (S/MIME) for the recipient's Direct address. Headers carry
no person data (the Subject is ids only), the boundary and Message-ID derive from the message
id, and the Date from the decision time, so the same input is the same bytes.
"""
from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from pipeline import geo
from pipeline.render import codes
from pipeline.render.content import Content

DIRECT_CONTENT_TYPE = "message/rfc822"
SENDER = "referrals@handoff.direct.invalid"  # the programme's Direct address comes from its settings
ACTION_WORDS = {"create": "New referral", "update": "Updated referral", "cancel": "Referral cancelled"}


def summary(c: Content) -> str:
    """The text a person at the recipient reads first."""
    p = c.patient
    lines = [f"{ACTION_WORDS[c.action.value]} from {c.referring.name} to {c.recipient.name}",
             f"Referral: {c.referral_id} (message {c.message_id})", ""]
    if c.cancel_reason:
        lines += [f"Reason: {c.cancel_reason}", ""]
    else:
        name = " ".join(x for x in (p.given, p.middle, p.family) if x) or "(not given)"
        lines += [f"Service asked for: {c.service_text} ({c.service.display}, SNOMED CT {c.service.code})",
                  f"Priority: {c.priority}", f"Person: {name}"]
        lines += [f"{label}: {value}" for label, value in (
            ("Born", p.birth_date.isoformat() if p.birth_date else ""), ("Phone", p.phone),
            ("Address", ", ".join(x for x in (p.address.street, "" if p.address.city.isdigit() else p.address.city,
                                              p.address.county, geo.state_abbr(p.address.state), p.address.zip) if x)
             if p.address else ""), ("Language", codes.language_name(p.language) or p.language)) if value]
        if c.categories:
            lines.append("Recognised: " + ", ".join(f"{codes.category_coding(cat)[1]} (SNOMED CT "
                                                    f"{codes.category_coding(cat)[0]})" for cat in c.categories))
        lines += [f"Finding (ICD-10-CM {f.code}): {f.display}" for f in c.findings]
        for m in c.naloxone:
            unit = codes.dose_unit(m.dose_unit) if m.dose is not None else None
            lines.append(f"Naloxone given at {m.given_at.isoformat(timespec='minutes')}"
                         + (f", {m.dose:g} {unit[1]}" if unit else "")
                         + (f", response {m.response}" if m.response else ""))
        if c.encounter is not None and c.encounter.incident is not None:
            lines.append(f"Incident: {c.encounter.incident.incident_number} ({c.encounter.incident.dispatch_centre})")
        if c.note:
            lines += ["", f"Note from the referrer: {c.note}"]
    if c.notice:
        lines += ["", c.notice]
    if c.consent_scope:
        lines += ["", f"Consent scope: {c.consent_scope}"]
    lines += ["", "The attached FHIR R4 Bundle carries the same referral for your system."]
    return "\n".join(lines) + "\n"


def message(c: Content, bundle_bytes: bytes, sender: str = SENDER) -> bytes:
    mail = EmailMessage(policy=policy.SMTP)
    mail["From"] = sender
    mail["To"] = c.destination
    mail["Date"] = format_datetime(c.sent_at)
    mail["Message-ID"] = f"<{c.message_id}@handoff>"
    mail["Subject"] = f"{ACTION_WORDS[c.action.value]} {c.referral_id}"
    mail.set_content(summary(c), charset="utf-8")
    mail.add_attachment(bundle_bytes, maintype="application", subtype="fhir+json",
                        filename=f"referral-{c.message_id}.json")
    mail.set_boundary(f"handoff-{c.message_id}")
    return mail.as_bytes()
