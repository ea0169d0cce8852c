"""Deterministic identifiers (STYLE.md §5).

A referral's identity is (person token, episode, service, recipient): `referral_id`. Every
FHIR resource id and RF1-6 derive from it, so an update replaces the recipient's copy instead
of adding one. A message's identity adds the action and a digest of the content the recipient
receives (leaving out the message's own ids and timestamps): a resend of the same content repeats
the same MSH-10 / Bundle.id / MessageHeader.id; another variant, an update or a cancellation gets new ones.
"""
from __future__ import annotations

import hashlib

import orjson

from pipeline import records as r
from pipeline.vocab import Action

MESSAGE_ID_LENGTH = 20  # MSH-10 is at most 20 characters


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def referral_id(request: r.Referral, recipient_id: str) -> str:
    """A referral's identity: (person token, episode, service, recipient)."""
    parts = (request.person.person_token, request.episode_id, request.service.value, recipient_id)
    return "ref-" + _digest(*parts)[:24]


def content_digest(content: object) -> str:
    """A digest of what a recipient receives (dataclasses, pydantic records, dates, enums), computed
    over canonical JSON; delivery reuses it to recognise a resend of the same content."""
    data = orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS,
                        default=_plain)
    return hashlib.sha256(data).hexdigest()


def _plain(value: object) -> object:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    if isinstance(value, (frozenset, set)):
        return sorted(value, key=str)
    if isinstance(value, tuple):  # a NamedTuple (vocab.Coding)
        return list(value)
    raise TypeError(f"{type(value).__name__} is not part of a content digest")


def message_id(referral: str, action: Action, content: str) -> str:
    """MSH-10, Bundle.identifier and the Direct Message-ID: 20 characters, upper-case hex, from the
    referral, the action and the content digest. The same content repeats it; other content does not."""
    return _digest(referral, action.value, content, "message")[:MESSAGE_ID_LENGTH].upper()


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
