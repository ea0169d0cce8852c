"""Person tokens: a keyed hash (HMAC-SHA256) of normalised identity fields, with its key version.

Rules, tried in order; the first whose fields are all present names the person:

    exact   family + given + date of birth + sex      -> Match.EXACT
    dob     family + date of birth                    -> Match.UNCERTAIN
    phone   family + given + phone                    -> Match.UNCERTAIN
    record  the source record itself (no linkage)     -> Match.UNCERTAIN

An uncertain match can be reviewed but never permitted (pipeline/consent). Tokens are
computed with the current (highest) key version; `tokens_for` gives every token a person
may carry under every retained key version and rule, so an accounting of disclosures
still finds records made before a key rotation.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Callable, NamedTuple

from pydantic import SecretStr

from pipeline.records import Person, PersonKey
from pipeline.vocab import Match


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", text.lower())


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return digits[-10:]  # national number: drops a leading country code


def _sex(person: Person) -> str:
    return {"f": "F", "m": "M"}.get((person.sex or "u")[:1].lower(), "U")


class Rule(NamedTuple):
    name: str
    match: Match
    fields: Callable[[Person], tuple[str, ...] | None]


def _exact(p: Person):
    parts = (normalise(p.family), normalise(p.given), p.birth_date.isoformat() if p.birth_date else "", _sex(p))
    return parts if all(parts[:3]) else None


def _dob(p: Person):
    parts = (normalise(p.family), p.birth_date.isoformat() if p.birth_date else "")
    return parts if all(parts) else None


def _phone(p: Person):
    parts = (normalise(p.family), normalise(p.given), _digits(p.phone))
    return parts if all(parts) and len(parts[2]) >= 7 else None


RULES = (Rule("exact", Match.EXACT, _exact), Rule("dob", Match.UNCERTAIN, _dob),
         Rule("phone", Match.UNCERTAIN, _phone))


def _token(key: SecretStr, rule: str, parts: tuple[str, ...]) -> str:
    basis = "|".join((rule, *parts)).encode()
    return hmac.new(key.get_secret_value().encode(), basis, hashlib.sha256).hexdigest()[:32]


def person_token(person: Person, keys: dict[int, SecretStr], fallback_id: str) -> tuple[PersonKey, Match]:
    """The person's token under the current key, and how sure the link is."""
    version = max(keys)
    for rule in RULES:
        parts = rule.fields(person)
        if parts is not None:
            return PersonKey(person_token=_token(keys[version], rule.name, parts), key_version=version), rule.match
    return PersonKey(person_token=_token(keys[version], "record", (fallback_id,)), key_version=version), \
        Match.UNCERTAIN


def tokens_for(person: Person, keys: dict[int, SecretStr]) -> list[tuple[PersonKey, str]]:
    """Every token this person may carry: each retained key version × each rule that applies."""
    out = []
    for version in sorted(keys, reverse=True):
        for rule in RULES:
            parts = rule.fields(person)
            if parts is not None:
                out.append((PersonKey(person_token=_token(keys[version], rule.name, parts), key_version=version),
                            rule.name))
    return out
