"""Consent and legal basis: `decide` gives each (request, recipient, purpose) a decision.

This first cut applies one rule set in code, failing closed: an uncertain person match
is held; a covered EMS agency's record may go to a health-care provider for treatment
(HIPAA 45 CFR 164.506(c)); a complete, active consent naming the recipient and purpose
permits; everything else is held for consent. The consent issue replaces the rules
with a versioned policy file and the registry, behind the same `decide` signature.
"""
from __future__ import annotations

from datetime import datetime

from pipeline import records as r
from pipeline.route import Candidate
from pipeline.vocab import Basis, ConsentKind, ConsentStatus, Match, Outcome, Variant

POLICY_VERSION = "builtin-0"


def _valid(consent: r.ConsentRecord, recipient: str, purpose, now: datetime) -> bool:
    return (consent.status == ConsentStatus.ACTIVE and not consent.missing_elements and consent.signed_at is not None
            and consent.revoked_at is None
            and (consent.general_designation or recipient in consent.recipients)
            and purpose in consent.purposes
            and (consent.period_start is None or consent.period_start <= now)
            and (consent.period_end is None or now < consent.period_end))


def decide(request: r.Referral, candidate: Candidate, referral_id: str, consents: list[r.ConsentRecord],
           now: datetime) -> r.Decision:
    recipient = candidate.provider
    base = dict(referral_id=referral_id, request_id=request.request_id, recipient_id=recipient.id,
                purpose=candidate.purpose, policy_version=POLICY_VERSION, decided_at=now)
    if request.match != Match.EXACT:
        return r.Decision(outcome=Outcome.HOLD, reasons=["person match is uncertain: review, never permit"], **base)
    for consent in consents:
        if _valid(consent, recipient.id, candidate.purpose, now):
            basis = Basis.PART2_CONSENT if consent.kind == ConsentKind.PART2 else Basis.HIPAA_AUTHORIZATION
            return r.Decision(outcome=Outcome.PERMIT, variant=Variant.FULL, basis=basis,
                              consent_id=consent.consent_id, reasons=[f"consent {consent.consent_id} is valid"],
                              **base)
    if recipient.health_care_provider and candidate.purpose.value == "treatment":
        return r.Decision(outcome=Outcome.PERMIT, variant=Variant.FULL, basis=Basis.HIPAA_TREATMENT,
                          reasons=["EMS record to a health-care provider for treatment (164.506(c))"], **base)
    return r.Decision(outcome=Outcome.HOLD,
                      reasons=["recipient is not a health-care provider: needs a consent or authorisation"], **base)
