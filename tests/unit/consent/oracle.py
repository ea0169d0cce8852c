"""An independent statement of what a permit needs, written from DOMAIN.md §4 and the policy
file, not from decide.py: the property tests judge every permit against it."""
from __future__ import annotations

from pipeline.consent.policy import VARIANT_ORDER
from pipeline.vocab import Basis, ConsentKind, ConsentStatus, Match, Outcome, Purpose

CONSENT_BASIS = {ConsentKind.PART2: Basis.PART2_CONSENT, ConsentKind.HIPAA_AUTHORIZATION: Basis.HIPAA_AUTHORIZATION}
TPO = (Purpose.TREATMENT, Purpose.CARE_COORDINATION)


def _expiry_stated(consent) -> bool:
    if consent.period_end is not None:
        return True
    event = consent.expiry_event.strip().lower()
    return bool(event) and (event != "none" or (consent.kind == ConsentKind.PART2 and consent.tpo))


def _names(consent, recipient, purpose) -> bool:
    if recipient.id in consent.recipients:
        return True
    if consent.general_designation:
        return (consent.kind == ConsentKind.PART2 and consent.tpo and purpose in TPO
                and recipient.kind == "health-care-provider")
    return consent.kind == ConsentKind.HIPAA_AUTHORIZATION and bool(set(consent.recipient_classes) & recipient.types)


def _signers_fit(consent, age, service_category, ages) -> bool:
    caps = {c.value for c in consent.signed_by}
    if not caps:
        return False
    if caps - {"patient"} and not consent.signer:
        return False  # a representative's authority is not recorded
    if age is None or age >= ages.adult_at:
        return True
    parent = bool(caps & {"guardian", "personal-representative"})
    if consent.kind == ConsentKind.PART2:
        alone = ages.part2_minor_consents_from
        return "patient" in caps if alone is not None and age >= alone else "patient" in caps and parent
    alone = ages.hipaa_minor_consents_from.get(service_category)
    return "patient" in caps if alone is not None and age >= alone else parent


def consent_valid(consent, recipient, purpose, categories, now, age=None, service_category=None, ages=None) -> bool:
    return (consent.status == ConsentStatus.ACTIVE
            and (consent.revoked_at is None or consent.revoked_at > now)
            and not consent.missing_elements and consent.signed_at is not None and consent.signed_at <= now
            and bool(consent.artefact_ref) and bool(consent.data_categories) and bool(consent.purposes)
            and _expiry_stated(consent)
            and (consent.period_start is None or consent.period_start <= now)
            and (consent.period_end is None or now < consent.period_end)
            and _names(consent, recipient, purpose) and purpose in consent.purposes
            and set(categories) <= set(consent.data_categories)
            and (ages is None or _signers_fit(consent, age, service_category, ages)))


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
    source = request.source_role.value if request.source_role else "part2-programme"  # unknown: most protective
    if bool(decision.labels) != (source == "part2-programme") or bool(decision.notice) != bool(decision.labels):
        bad.append("Part 2 labels and notice on a record that is not a Part 2 programme's, or missing on one")
    service_category = policy.service_data.get(request.service)
    rules = [rule for rule in policy.rules
             if source in rule.sources and recipient.types & rule.recipients and purpose in rule.purposes]
    consent = next((c for c in consents if c.consent_id == decision.consent_id), None)
    if decision.basis in CONSENT_BASIS.values():
        if consent is None or CONSENT_BASIS[consent.kind] != decision.basis:
            bad.append("consent basis without that consent in the registry")
            consent = None
    elif decision.consent_id:
        bad.append("names a consent under a policy basis")
    if service_category is not None and service_category not in carried:
        bad.append("redacted the service's own category (the service and the recipient reveal it)")
    wide = VARIANT_ORDER.index(decision.variant)
    for category in carried:
        ok = False
        for rule in rules:
            for grant in rule.grants:
                if category not in rule.data or VARIANT_ORDER.index(grant.variant) > wide:
                    continue
                if policy.restricted(source, recipient.types, purpose, category, grant.basis):
                    continue
                if grant.basis not in CONSENT_BASIS.values():
                    ok = True
                elif (consent is not None and grant.basis == decision.basis
                      and consent_valid(consent, recipient, purpose, [category], now, request.age,
                                        service_category, policy.ages)):
                    ok = True
        if not ok:
            bad.append(f"{category.value} carried without a basis valid now")
    return bad
