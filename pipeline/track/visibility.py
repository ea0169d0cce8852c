"""Who may be told what a recipient reported about a referral (42 CFR Part 2, HIPAA).

A status a provider reports (accepted, engaged, declined, completed) is that provider's own
disclosure about the person: from a Part 2 programme it is a Part 2 record. The programme's
privacy office sees every status (the programme's own records; every view is audited). Anyone
else sees a provider's report only when the legal model's `may_receive_status` permits it for
their organisation; a law-enforcement organisation never does (no policy rule names it).
What Handoff itself did (sent, delivered, cancelled on a revocation, escalated) stays visible;
the provider's part is replaced by `WITHHELD`.

    view = status_view(found, request, reporter, audience, consents, policy, now)
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from pipeline import records as r
from pipeline.consent import Recipient, may_receive_status
from pipeline.consent.policy import Policy
from pipeline.people.roles import Role
from pipeline.vocab import Outcome, StatusSource

WITHHELD = "withheld"
SEES_ALL = frozenset({Role.PRIVACY_OFFICER})


def audience_of(roles: frozenset[Role], organisation_id: str, agency_role: str, programme: str) -> Recipient | None:
    """The organisation a viewer is told as (its own, else the programme it works for); None for a
    role that sees every status."""
    if roles & SEES_ALL:
        return None
    kind = "law-enforcement" if agency_role == "law-enforcement" else "other"
    return Recipient(organisation_id or programme, kind)


def may_see_provider_status(request: r.ReferralRequest | None, reporter: Recipient | None, audience: Recipient | None,
                            consents: Sequence[r.ConsentRecord] | None, policy: Policy, now: datetime) -> bool:
    if audience is None:
        return True
    if request is None or reporter is None:  # nothing to decide on: the most protective reading
        return False
    decision = may_receive_status(request, reporter, audience, consents, policy, now)
    return decision.outcome in (Outcome.PERMIT, Outcome.PERMIT_REDACTED)


def status_view(found: dict, allowed: bool) -> dict:
    """`found` (track.show_referral's shape) as a viewer may see it."""
    if allowed:
        return found
    history = [h if h["source"] != StatusSource.PROVIDER.value else
               {**h, "to_state": WITHHELD, "business_status": "", "reason": "", "reported_by": WITHHELD}
               for h in found["history"]]
    provider_said = any(h["source"] == StatusSource.PROVIDER.value for h in found["history"])
    referral = {**found["referral"], **({"state": WITHHELD, "business_status": ""} if provider_said else {})}
    return {**found, "referral": referral, "history": history}
