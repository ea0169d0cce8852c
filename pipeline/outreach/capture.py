"""Consent capture from the outreach form: 42 CFR 2.31(a) and, for a HIPAA authorisation, 45 CFR 164.508(c).

    consent, missing = from_form(fields, subject, {"held": "prov-a"}, artefact, now)    # pure
    if not missing: store_artefact(...); registry.put(person, consent, now, actor)

Every element is a field of the form. What the ConsentRecord itself evidences (information,
recipients, purpose, signature and date) is read from it by `decide.missing_elements`; the
statements the person was given (right to revoke, redisclosure, for HIPAA also that treatment is
not conditioned on signing) and the named patient, disclosing party and expiry are checked here.
An incomplete form produces no consent at all: the page names what is missing, nothing is
released. A complete one is put through the registry as *active*, with the signed artefact
(an uploaded PDF or image, or a signature drawn on the page, which arrives as a PNG) stored
with its SHA-256. "To whom" is one of the choices the form offered (`choices`: the value the
form sent → the recipient id): the held referral's recipient on the outreach page, a provider
of the directory on the field form.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline import records as r
from pipeline.consent.decide import missing_elements
from pipeline.ids import digest
from pipeline.vocab import ConsentKind, ConsentStatus, DataCategory, Purpose, SignerCapacity

CAPACITIES = ("self", "parent-or-guardian", "personal-representative")
# the form's capacities as the consent records them (42 CFR 2.14/2.15, 45 CFR 164.502(g))
SIGNED_BY = {"self": SignerCapacity.PATIENT, "parent-or-guardian": SignerCapacity.GUARDIAN,
             "personal-representative": SignerCapacity.PERSONAL_REPRESENTATIVE}
# what a signed form may be, and how its first bytes must start (a drawn signature is a PNG)
ARTEFACT_TYPES = {"application/pdf": (b"%PDF-",), "image/png": (b"\x89PNG\r\n\x1a\n",),
                  "image/jpeg": (b"\xff\xd8\xff",)}
MAX_ARTEFACT = 5 * 1024 * 1024
# 45 CFR 164.508(c)(2)(ii): the authorisation states that treatment is not conditioned on signing.
HIPAA_EXTRA = ("conditioning-statement",)


@dataclass(frozen=True)
class Artefact:
    body: bytes
    content_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def artefact_problem(artefact: Artefact | None) -> str:
    if artefact is None or not artefact.body:
        return "signature"
    if artefact.content_type not in ARTEFACT_TYPES:
        return f"the signed form must be a PDF, PNG or JPEG (got {artefact.content_type or 'unknown'})"
    if len(artefact.body) > MAX_ARTEFACT:
        return f"the signed form is larger than {MAX_ARTEFACT // (1024 * 1024)} MB"
    if not artefact.body.startswith(ARTEFACT_TYPES[artefact.content_type]):
        return f"the signed form is not a {artefact.content_type} file"
    return ""


def _yes(fields: dict, name: str) -> bool:
    return fields.get(name, "").strip().lower() in ("on", "yes", "true", "1")


def from_form(fields: dict, subject: str, choices: dict[str, str], artefact: Artefact | None,
              now: datetime) -> tuple[r.ConsentRecord, list[str]]:
    """The consent the form describes, and the elements it still lacks (empty: complete)."""
    recipient = choices.get(fields.get("recipient", ""), "")
    kind = ConsentKind.HIPAA_AUTHORIZATION if fields.get("kind") == ConsentKind.HIPAA_AUTHORIZATION.value \
        else ConsentKind.PART2
    lacking = []
    if not fields.get("patient_name", "").strip():
        lacking.append("patient")
    if not fields.get("disclosing_party", "").strip():
        lacking.append("disclosing-party")
    if not _yes(fields, "right_to_revoke"):
        lacking.append("right-to-revoke")
    if not _yes(fields, "redisclosure_statement"):
        lacking.append("redisclosure-statement")
    if kind == ConsentKind.HIPAA_AUTHORIZATION and not _yes(fields, "conditioning_statement"):
        lacking.append("conditioning-statement")
    end = None
    try:
        days = int(fields.get("expiry_days", "") or 0)
        end = now + timedelta(days=days) if 0 < days <= 366 * 5 else None
    except ValueError:
        pass
    if end is None:
        lacking.append("expiry")
    if fields.get("signer", "").strip() == "" or fields.get("capacity", "") not in CAPACITIES:
        lacking.append("signature")
    categories = [c for c in DataCategory if _yes(fields, f"info_{c.value}")]
    purposes = [p for p in Purpose if _yes(fields, f"purpose_{p.value}")]
    problem = artefact_problem(artefact)
    consent = r.ConsentRecord(
        consent_id="captured-" + digest(subject, recipient, now.isoformat(), length=24), kind=kind,
        status=ConsentStatus.ACTIVE, recipients=[recipient] if recipient else [],
        purposes=purposes, data_categories=categories, period_start=now, period_end=end,
        signed_at=now if not problem else None, artefact_ref=f"sha256:{artefact.sha256}" if not problem else "",
        missing_elements=lacking, signer=f"artefact:{artefact.sha256}" if not problem else "",
        signed_by=[SIGNED_BY[fields["capacity"]]] if fields.get("capacity") in SIGNED_BY else [])
    missing = missing_elements(consent)
    if problem and problem != "signature":
        missing.append(problem)
    return consent, missing


def store_artefact(store, consent_id: str, artefact: Artefact, signer: str, capacity: str, user: str,
                   now: datetime) -> None:
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO consent_artefact (sha256, consent_id, content_type, body, signer, capacity,"
                   " captured_by, captured_at) VALUES (:h, :cid, :ct, :body, :signer, :cap, :by, :at)"
                   " ON CONFLICT (sha256) DO NOTHING",
                   {"h": artefact.sha256, "cid": consent_id, "ct": artefact.content_type, "body": artefact.body,
                    "signer": signer.strip()[:200], "cap": capacity, "by": user, "at": now.isoformat()})


def consents_for(registry, person: r.PersonKey) -> list[r.ConsentRecord]:
    """The person's consents, for the page's revoke buttons (active ones first)."""
    return sorted(registry.consents(person), key=lambda c: (c.status != ConsentStatus.ACTIVE, c.consent_id))
