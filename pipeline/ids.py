"""Deterministic identifiers (STYLE.md §5): one digest helper, the referral id, the message id.

Every id in Handoff derives from what it names, so a replay after a crash produces the same id
and the consumers drop the copy. `digest` is the one way to derive one: sha256 over the parts
joined by the unit separator (0x1F), hex, optionally truncated.

A referral's identity is (person token, episode, service, recipient): `referral_id`. A message's
identity adds the action and the revision (`message_id`): a resend after a crash repeats the same
MSH-10 / MessageHeader.id, an update or a cancellation gets new ones.
"""
from __future__ import annotations

import hashlib

from pipeline import records as r
from pipeline.vocab import Action

MESSAGE_ID_LENGTH = 20  # MSH-10 is at most 20 characters


def digest(*parts: object, length: int | None = None) -> str:
    """sha256 of the parts joined by 0x1F, as hex; the first `length` characters when given."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:length]


def referral_id(request: r.Referral, recipient_id: str) -> str:
    """A referral's identity: (person token, episode, service, recipient)."""
    parts = (request.person.person_token, request.episode_id, request.service.value, recipient_id)
    return "ref-" + digest(*parts, length=24)


def message_id(referral: str, action: Action, revision: int) -> str:
    """MSH-10, Bundle.identifier and the Direct Message-ID: 20 characters, upper-case hex."""
    return digest(referral, action.value, revision, "message", length=MESSAGE_ID_LENGTH).upper()
