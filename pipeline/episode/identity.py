"""Person tokens: a keyed hash of normalised name, date of birth and sex, with its key version.

A token found by the full rule is `exact`. Without a date of birth or a full name the
fall-back rule (family name + date of birth, else the source record itself) gives an
`uncertain` match, which can be reviewed but never permitted. The episodes issue adds
more fall-backs and cross-version look-ups; the key versions live in settings.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from pydantic import SecretStr

from pipeline.records import Person, PersonKey
from pipeline.vocab import Match


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", text.lower())


def person_token(person: Person, keys: dict[int, SecretStr], fallback_id: str) -> tuple[PersonKey, Match]:
    version = max(keys)
    key = keys[version].get_secret_value().encode()
    family, given = normalise(person.family), normalise(person.given)
    dob = person.birth_date.isoformat() if person.birth_date else ""
    sex = (person.sex or "U")[:1].upper()
    if family and given and dob:
        basis, match = f"v1|{family}|{given}|{dob}|{sex}", Match.EXACT
    elif family and dob:
        basis, match = f"fb1|{family}|{dob}", Match.UNCERTAIN
    else:
        basis, match = f"fb9|{fallback_id}", Match.UNCERTAIN
    token = hmac.new(key, basis.encode(), hashlib.sha256).hexdigest()[:32]
    return PersonKey(person_token=token, key_version=version), match
