"""Deterministic identifiers (STYLE.md §5): one digest helper, the referral id, the message id.

Every id in Handoff derives from what it names, so a replay after a crash produces the same id
and the consumers drop the copy. `digest` is the one way to derive one: sha256 over the parts
joined by the unit separator (0x1F), hex, optionally truncated.

A referral's identity is (person token, episode, service, recipient): `referral_id`. A message's
identity adds the action and a digest of the content the recipient receives, leaving out the
message's own ids and timestamps (`content_digest`, `message_id`): a resend of the same content
repeats the same MSH-10 / Bundle.id / MessageHeader.id; another variant, an update or a cancellation
gets new ones. Delivery reuses the content digest (render's `Payload.content_digest`).
"""
from __future__ import annotations

import hashlib

import orjson

from pipeline import records as r
from pipeline.vocab import Action

MESSAGE_ID_LENGTH = 20  # MSH-10 is at most 20 characters


def digest(*parts: object, length: int | None = None) -> str:
    """sha256 of the parts joined by 0x1F, as hex; the first `length` characters when given."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:length]


def referral_id(request: r.ReferralRequest, recipient_id: str) -> str:
    """A referral's identity: (person token, episode, service, recipient)."""
    parts = (request.person.person_token, request.episode_id, request.service.value, recipient_id)
    return "ref-" + digest(*parts, length=24)


def content_digest(content: object) -> str:
    """sha256 over canonical JSON of what a recipient receives (dataclasses, pydantic records,
    dates, enums); the caller leaves out the message's own ids and timestamps."""
    data = orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS, default=_plain)
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
    return digest(referral, action.value, content, "message", length=MESSAGE_ID_LENGTH).upper()
