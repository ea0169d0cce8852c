"""The ids of a rendered referral's resources (STYLE.md §5).

Every FHIR resource id and RF1-6 derive from the referral id (pipeline/ids.py), so an update
replaces the recipient's copy instead of adding one. The referral id and the message id live in
pipeline/ids.py with the one digest helper.
"""
from __future__ import annotations

from pipeline.ids import digest


def uuid_of(*parts: object) -> str:
    """A UUID-shaped id (version 8 layout, RFC 9562) derived from the parts."""
    h = digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def resource_uuid(referral: str, kind: str, *more: object) -> str:
    """The id of one resource of a referral; the same in every message about it."""
    return uuid_of(referral, kind, *more)


def organization_uuid(org_id: str) -> str:
    """An organisation's resource id: the same in every referral that names it."""
    return uuid_of("organization", org_id)


def patient_link(person_token: str, recipient_id: str) -> str:
    """The linkage identifier a recipient sees: stable for that recipient, unlinkable across recipients,
    and not the internal person token."""
    return "pl-" + digest("patient-link", person_token, recipient_id, length=24)
