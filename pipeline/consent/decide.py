"""`decide`: the legal basis, if any, for one (request, recipient, purpose). Pure.

    decision = decide(request, recipient, purpose, consents, policy, now)

`consents` is the person's current consent set read from the registry just before, or None
when the registry could not be read (then the answer is `hold`: fail closed). The policy
(policy.py) says which bases may permit which content; this module only applies it:

1. an uncertain person match is held for review, never permitted;
2. the request's data categories (always `general`, plus SUD / mental health from its
   categories and service) must each be covered, for the widest variant that can be
   covered, by a rule for (source type, recipient type, purpose) with a basis that holds:
   a policy basis (HIPAA treatment, Part 2 emergency, state rule) holds by itself; a consent
   basis holds only with ONE consent of its kind that is complete (every 42 CFR 2.31 element,
   a signed artefact), active, unrevoked, in its period, naming this recipient (or a general
   designation, for treatment), this purpose and each category it must cover;
3. nothing covers: `hold` when a consent could permit (outreach captures it), else `deny`.

A Part 2 disclosure (a Part 2 programme's record, a Part 2 consent or emergency, carrying SUD
content) gets the 2.32 notice and the consent's scope on the decision, for render to place.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from pipeline import records as r
from pipeline.consent.policy import CONSENT_BASES, VARIANT_ORDER, Grant, Policy, Rule
from pipeline.ids import referral_id
from pipeline.vocab import Basis, ConsentKind, ConsentStatus, DataCategory, Match, Outcome, Purpose, Variant

# 42 CFR 2.31(a) (2024): what a consent must name. The record's own fields evidence some;
# the capture form reports the rest in `missing_elements` until they are captured.
PART2_ELEMENTS = ("patient", "disclosing-party", "information", "recipients", "purpose", "right-to-revoke",
                  "expiry", "signature", "date", "redisclosure-statement")
KIND_BASIS = {ConsentKind.PART2: Basis.PART2_CONSENT, ConsentKind.HIPAA_AUTHORIZATION: Basis.HIPAA_AUTHORIZATION}
SENSITIVITY = (DataCategory.SUD, DataCategory.MENTAL_HEALTH, DataCategory.GENERAL)  # most sensitive first


@dataclass(frozen=True)
class Recipient:
    """What decide needs to know about a recipient (a view, independent of routing)."""

    id: str
    kind: str  # health-care-provider | other | law-enforcement (policy.RECIPIENT_TYPES)
    part2_programme: bool = False

    @classmethod
    def of(cls, provider) -> "Recipient":
        """From a directory Provider."""
        kind = ("law-enforcement" if provider.law_enforcement
                else "health-care-provider" if provider.health_care_provider else "other")
        return cls(provider.id, kind, provider.part2_programme)


def missing_elements(consent: r.ConsentRecord) -> list[str]:
    """The 2.31 elements this consent does not carry yet (empty: complete)."""
    missing = set(consent.missing_elements)
    if not consent.data_categories:
        missing.add("information")
    if not consent.recipients and not consent.general_designation:
        missing.add("recipients")
    if not consent.purposes:
        missing.add("purpose")
    if consent.signed_at is None:
        missing |= {"signature", "date"}
    if not consent.artefact_ref:
        missing.add("signature")
    return [e for e in PART2_ELEMENTS if e in missing] + sorted(missing - set(PART2_ELEMENTS))


def consent_problems(consent: r.ConsentRecord, recipient_id: str, purpose: Purpose,
                     categories: frozenset[DataCategory], now: datetime) -> list[str]:
    """Why this consent cannot permit this disclosure now (empty: it can)."""
    problems = []
    if consent.status != ConsentStatus.ACTIVE:
        problems.append(f"status is {consent.status.value}")
    if consent.revoked_at is not None and consent.revoked_at <= now:
        problems.append("revoked")
    missing = missing_elements(consent)
    if missing:
        problems.append(f"incomplete: {', '.join(missing)}")
    if consent.signed_at is not None and consent.signed_at > now:
        problems.append("signed after the decision time")
    if consent.period_start is not None and now < consent.period_start:
        problems.append("not yet in effect")
    if consent.period_end is not None and now >= consent.period_end:
        problems.append("expired")
    if recipient_id not in consent.recipients:
        if not consent.general_designation:
            problems.append("does not name this recipient")
        elif consent.kind != ConsentKind.PART2 or purpose != Purpose.TREATMENT:
            problems.append("a general designation covers only treatment under a Part 2 consent")
    if purpose not in consent.purposes:
        problems.append(f"does not cover the purpose {purpose.value}")
    uncovered = categories - set(consent.data_categories)
    if uncovered:
        problems.append(f"does not cover {', '.join(sorted(c.value for c in uncovered))} information")
    return problems


def decide(request: r.Referral, recipient: Recipient, purpose: Purpose,
           consents: Sequence[r.ConsentRecord] | None, policy: Policy, now: datetime) -> r.Decision:
    categories = policy.data_categories(request)
    base = dict(referral_id=referral_id(request, recipient.id), request_id=request.request_id,
                recipient_id=recipient.id, purpose=purpose, policy_version=policy.version, decided_at=now,
                data_categories=sorted(categories, key=SENSITIVITY.index))
    if request.match != Match.EXACT:
        return r.Decision(outcome=Outcome.HOLD, reasons=["person match is uncertain: review, never permit"], **base)
    if consents is None:
        return r.Decision(outcome=Outcome.HOLD, reasons=["consent registry unavailable: hold (fail closed)"], **base)
    source = policy.source_type(request)
    rules = policy.rules_for(source, recipient.kind, purpose)
    where = f"{source} to {recipient.kind} for {purpose.value}"
    if not rules:
        return r.Decision(outcome=Outcome.DENY, reasons=[f"no policy rule permits {where}"], **base)
    ordered = sorted(consents, key=lambda c: c.consent_id)
    for variant in VARIANT_ORDER:
        needed = categories & policy.variant_content[variant]
        cover = _cover(needed, variant, rules, ordered, recipient.id, purpose, now)
        if cover is None:
            continue
        basis, consent, rule_ids = cover
        carried = ", ".join(c.value for c in sorted(needed, key=SENSITIVITY.index))
        reasons = [f"{where}: {basis.value} under rule {', '.join(rule_ids)} permits {carried}"]
        if consent is not None:
            reasons.append(f"consent {consent.consent_id} is complete and valid")
        withheld = categories - needed
        if withheld:
            reasons.append(f"withheld: {', '.join(sorted(c.value for c in withheld))} (no basis covers it)")
        notice, scope = _part2(source, basis, consent, needed, policy)
        return r.Decision(outcome=Outcome.PERMIT_REDACTED if withheld else Outcome.PERMIT, variant=variant,
                          basis=basis, consent_id=consent.consent_id if consent else "", reasons=reasons,
                          notice=notice, consent_scope=scope,
                          consent_signed_at=consent.signed_at if consent else None, **base)
    consent_bases = {g.basis for rule in rules for g in rule.grants if categories & rule.data} & CONSENT_BASES
    problems = [f"consent {c.consent_id}: {'; '.join(p)}" for c in ordered if KIND_BASIS[c.kind] in consent_bases
                for p in [consent_problems(c, recipient.id, purpose, categories, now)] if p]
    if consent_bases:
        wanted = " or ".join(sorted(b.value for b in consent_bases))
        return r.Decision(outcome=Outcome.HOLD, reasons=[f"{where} needs a valid {wanted}", *problems], **base)
    return r.Decision(outcome=Outcome.DENY, reasons=[f"no basis in policy covers this content for {where}"], **base)


def _wide_enough(grant: Grant, variant: Variant) -> bool:
    return VARIANT_ORDER.index(grant.variant) <= VARIANT_ORDER.index(variant)


def _cover(needed: frozenset[DataCategory], variant: Variant, rules: list[Rule],
           consents: Sequence[r.ConsentRecord], recipient_id: str, purpose: Purpose, now: datetime):
    """(basis, consent or None, rule ids) covering every needed category at `variant`, or None."""
    grants = [(rule, g) for rule in rules for g in rule.grants if _wide_enough(g, variant)]
    by_policy = {c: next(((rule, g) for rule, g in grants if c in rule.data and g.basis not in CONSENT_BASES),
                         None) for c in needed}
    rest = frozenset(c for c, found in by_policy.items() if found is None)
    if not rest:
        top = next(c for c in SENSITIVITY if c in needed)
        rule, grant = by_policy[top]
        return grant.basis, None, sorted({rule.id for rule, _ in filter(None, by_policy.values())})
    for consent in consents:
        basis = KIND_BASIS[consent.kind]
        used = {c: next((rule for rule, g in grants if c in rule.data and g.basis == basis), None) for c in rest}
        if all(used.values()) and not consent_problems(consent, recipient_id, purpose, rest, now):
            ids = {rule.id for rule in used.values()} | {rule.id for rule, _ in filter(None, by_policy.values())}
            return basis, consent, sorted(ids)
    return None


def _part2(source: str, basis: Basis, consent: r.ConsentRecord | None, carried: frozenset[DataCategory],
           policy: Policy) -> tuple[str, str]:
    """The 2.32 notice and the scope statement a Part 2 disclosure carries ('' when it is not one)."""
    part2 = source == "part2-programme" or basis in (Basis.PART2_CONSENT, Basis.PART2_MEDICAL_EMERGENCY)
    if not part2 or DataCategory.SUD not in carried:
        return "", ""
    if consent is None:
        return policy.notice_text, f"disclosed without consent under {basis.value} (policy {policy.version})"
    return policy.notice_text, consent_scope(consent)


def consent_scope(consent: r.ConsentRecord) -> str:
    """A plain statement of what a consent allows: the 'clear explanation of its scope' of 2.32."""
    recipients = "any treating provider (general designation)" if consent.general_designation else \
        ", ".join(consent.recipients)
    period = (f"from {consent.period_start.date().isoformat() if consent.period_start else 'signature'}"
              f" until {consent.period_end.date().isoformat() if consent.period_end else 'the stated expiry event'}")
    return (f"Consent {consent.consent_id} ({consent.kind.value}) signed "
            f"{consent.signed_at.date().isoformat() if consent.signed_at else '-'}: information "
            f"{', '.join(c.value for c in consent.data_categories)}; to {recipients}; for "
            f"{', '.join(p.value for p in consent.purposes)}; {period}; revocable at any time.")


def recheck(decision: r.Decision, consents: Sequence[r.ConsentRecord], policy: Policy, now: datetime) -> list[str]:
    """Just before sending: why the permitting decision no longer holds (empty: send).

    A consent basis is re-checked against the registry's current set (revoked, expired,
    changed, gone); a policy basis does not depend on the person's consents."""
    if decision.outcome not in (Outcome.PERMIT, Outcome.PERMIT_REDACTED) or decision.variant is None:
        return [f"decision is {decision.outcome.value}, not a permit"]
    problems = []
    if decision.basis in CONSENT_BASES:
        carried = frozenset(decision.data_categories) & policy.variant_content[decision.variant]
        consent = next((c for c in consents if c.consent_id == decision.consent_id), None)
        if consent is None:
            problems.append(f"consent {decision.consent_id} is no longer in the registry")
        elif KIND_BASIS[consent.kind] != decision.basis:
            problems.append(f"consent {consent.consent_id} is no longer a {decision.basis.value}")
        else:
            problems += [f"consent {consent.consent_id}: {p}" for p in
                         consent_problems(consent, decision.recipient_id, decision.purpose, carried, now)]
    return problems
