"""Who received what about a person: an accounting of disclosures (Part 2 §2.24/§2.25).

A person is found by a token, or by name, date of birth and sex. Tokens are keyed hashes
with a key version; a record tokenised under a retired key, or by a fall-back rule
(family name + date of birth, when the source lacked a given name), has another token.
So every retained linkage-key version and every rule that name and date of birth can
reproduce is tried (the record-id fall-back cannot be: it names no person).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from pydantic import SecretStr

from pipeline import records as r
from pipeline.episode.identity import tokens_for
from pipeline.storage import Store
from pipeline.vocab import AuditKind

DISCLOSURE_KINDS = (AuditKind.DELIVERY_RESULT,)


@dataclass(frozen=True)
class Candidate:
    token: str
    key_version: int
    rule: str  # exact | family+dob, and the sex tried


@dataclass(frozen=True)
class Disclosure:
    recorded_at: str
    recipient_id: str
    purpose: str
    basis: str
    variant: str
    consent_id: str
    referral_id: str
    outcome: str
    person_token: str
    key_version: int
    audit_id: str
    message_id: str

    def as_json(self) -> dict:
        return dict(self.__dict__)


def candidate_tokens(family: str, given: str, birth_date: date, sex: str,
                     keys: dict[int, SecretStr]) -> list[Candidate]:
    """Every token this person may carry: each key version x each rule x (given sex, unknown sex)."""
    out: dict[str, Candidate] = {}
    for s in dict.fromkeys([(sex or "U")[:1].upper(), "U"]):
        person = r.Person(family=family, given=given, birth_date=birth_date, sex=s)
        for token, rule in tokens_for(person, keys):
            label = f"exact, sex {s}" if rule == "exact" else rule
            out.setdefault(token.person_token, Candidate(token.person_token, token.key_version, label))
    return list(out.values())


def disclosures(store: Store, tokens: list[str], decode: Callable[[bytes], r.AuditEvent]) -> list[Disclosure]:
    """Every disclosure recorded about any of `tokens`, oldest first."""
    if not tokens:
        return []
    names = {f"t{i}": t for i, t in enumerate(tokens)}
    kinds = {f"k{i}": k.value for i, k in enumerate(DISCLOSURE_KINDS)}
    with store.transaction() as tx:
        rows = tx.fetchall(
            f"SELECT body FROM audit_record WHERE person_token IN ({', '.join(':' + n for n in names)})"
            f" AND kind IN ({', '.join(':' + k for k in kinds)}) ORDER BY recorded_at, audit_id", {**names, **kinds})
    out = []
    for row in rows:
        e = decode(bytes(row["body"]))
        out.append(Disclosure(
            recorded_at=e.recorded_at.isoformat(), recipient_id=e.recipient_id,
            purpose=e.purpose.value if e.purpose else "", basis=e.basis.value if e.basis else "",
            variant=e.variant.value if e.variant else "", consent_id=e.consent_id, referral_id=e.referral_id,
            outcome=e.outcome, person_token=e.person.person_token if e.person else "",
            key_version=e.person.key_version if e.person else 0, audit_id=e.audit_id,
            message_id=e.detail.get("message_id", "")))
    return out
