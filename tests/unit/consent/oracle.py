"""An independent statement of what a permit needs, written from DOMAIN.md §4 and the policy
file, not from decide.py: the property tests judge every permit against it."""
from __future__ import annotations

from pipeline.consent.policy import VARIANT_ORDER
from pipeline.vocab import Basis, ConsentKind, ConsentStatus, Match, Outcome, Purpose

CONSENT_BASIS = {ConsentKind.PART2: Basis.PART2_CONSENT, ConsentKind.HIPAA_AUTHORIZATION: Basis.HIPAA_AUTHORIZATION}


def consent_valid(consent, recipient_id, purpose, categories, now) -> bool:
    named = recipient_id in consent.recipients or (
        consent.general_designation and consent.kind == ConsentKind.PART2 and purpose == Purpose.TREATMENT)
    return (consent.status == ConsentStatus.ACTIVE
            and (consent.revoked_at is None or consent.revoked_at > now)
            and not consent.missing_elements and consent.signed_at is not None and consent.signed_at <= now
            and bool(consent.artefact_ref)
            and (consent.period_start is None or consent.period_start <= now)
            and (consent.period_end is None or now < consent.period_end)
            and named and purpose in consent.purposes and set(categories) <= set(consent.data_categories))


def permit_violations(decision, request, recipient, purpose, consents, policy, now) -> list[str]:
    """Empty when the decision is not a permit, or a permit with a basis valid at `now`."""
    if decision.outcome not in (Outcome.PERMIT, Outcome.PERMIT_REDACTED):
        return []
    bad = []
    if decision.recipient_id != recipient.id or decision.purpose != purpose:
        bad.append("decision is for another recipient or purpose")
    if request.match != Match.EXACT:
        bad.append("permitted an uncertain person match")
    if consents is None:
        bad.append("permitted without reading the registry")
        consents = []
    categories = policy.data_categories(request)
    carried = categories & policy.variant_content[decision.variant]
    if set(decision.data_categories) != set(categories):
        bad.append("decision misstates the request's content")
    if (decision.outcome == Outcome.PERMIT) != (carried == categories):
        bad.append("permit vs permit-redacted does not match what the variant carries")
    source = policy.source_type(request)
    rules = [rule for rule in policy.rules
             if source in rule.sources and recipient.kind in rule.recipients and purpose in rule.purposes]
    consent = next((c for c in consents if c.consent_id == decision.consent_id), None)
    if decision.basis in CONSENT_BASIS.values():
        if consent is None or CONSENT_BASIS[consent.kind] != decision.basis:
            bad.append("consent basis without that consent in the registry")
            consent = None
    elif decision.consent_id:
        bad.append("names a consent under a policy basis")
    wide = VARIANT_ORDER.index(decision.variant)
    for category in carried:
        ok = False
        for rule in rules:
            for grant in rule.grants:
                if category not in rule.data or VARIANT_ORDER.index(grant.variant) > wide:
                    continue
                if grant.basis not in CONSENT_BASIS.values():
                    ok = True
                elif (consent is not None and grant.basis == decision.basis
                      and consent_valid(consent, recipient.id, purpose, [category], now)):
                    ok = True
        if not ok:
            bad.append(f"{category.value} carried without a basis valid now")
    return bad
