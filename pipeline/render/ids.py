"""Deterministic identifiers (STYLE.md §5).

A referral's identity is (person token, episode, service, recipient): `referral_id`. Every
FHIR resource id and RF1-6 derive from it, so an update replaces the recipient's copy instead
of adding one. A message's identity adds the action and the revision: a resend after a crash
repeats the same MSH-10 / MessageHeader.id, an update or a cancellation gets new ones.
"""
from __future__ import annotations

import hashlib

from pipeline import records as r
from pipeline.vocab import Action

MESSAGE_ID_LENGTH = 20  # MSH-10 is at most 20 characters


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def referral_id(request: r.Referral, recipient_id: str) -> str:
    """A referral's identity: (person token, episode, service, recipient)."""
    parts = (request.person.person_token, request.episode_id, request.service.value, recipient_id)
    return "ref-" + _digest(*parts)[:24]


def message_id(referral: str, action: Action, revision: int) -> str:
    """MSH-10, Bundle.identifier and the Direct Message-ID: 20 characters, upper-case hex."""
    return _digest(referral, action.value, revision, "message")[:MESSAGE_ID_LENGTH].upper()


def uuid_of(*parts: object) -> str:
    """A UUID-shaped id (version 8 layout, RFC 9562) derived from the parts."""
    h = _digest(*parts)[:32]
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
    return "pl-" + _digest("patient-link", person_token, recipient_id)[:24]
