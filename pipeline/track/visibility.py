"""Who may be told what a recipient reported about a referral (42 CFR Part 2, HIPAA).

A status a provider reports (accepted, engaged, declined, completed) is that provider's own
disclosure about the person: from a Part 2 programme it is a Part 2 record. The programme's
privacy office sees every status (the programme's own records; every view is audited). Anyone
else sees a provider's report only when the legal model's `may_receive_status` permits it for
their organisation; a law-enforcement organisation never does (no policy rule names it).
What Handoff itself did (sent, delivered, cancelled on a revocation, escalated) stays visible;
the provider's part is replaced by `WITHHELD`.

Where a status is shown to a person: `handoff referrals list|show` and the outreach worklist and
entry pages (`handoff outreach` too, via pipeline.outreach.worklist) ask `Viewer`. The provider
inbox shows a provider only its own referrals, so what it sees is its own report; the operations
page shows counts by state, never one referral; the link-review page shows no status.

    viewer = Viewer(store, settings, account, now)   # one account's view (CLI and web pages alike)
    row = viewer.listed(row)                          # a track.list_referrals row
    found = viewer.shown(found)                       # track.show_referral's shape
    viewer.may_see(request, recipient_id, consents)   # what a page that has the request asks
    view = status_view(found, allowed)
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


class Viewer:
    """Decides, per referral, whether one account may see what the recipient reported: every page and
    command that shows a provider's status to a person asks it."""

    def __init__(self, store, settings, account, now: datetime) -> None:
        from pipeline.consent import Registry, load_policy
        from pipeline.route.directory import DirectorySource

        self.account, self.store, self.now, self.registry = account, store, now, Registry(store)
        self.agency_role = settings.agency_role(account.organisation_id)
        self.sees_all = bool(account.roles & SEES_ALL)
        if not self.sees_all:
            self.policy = load_policy(settings.consent.policy)
            self.directory = DirectorySource(settings.routing.directory).current()

    def may_see(self, request: r.ReferralRequest | None, recipient_id: str,
                consents: Sequence[r.ConsentRecord] | None = None, programme: str = "") -> bool:
        """May this account be told what `recipient_id` reported about `request`? (consents: the
        person's, read here when not given)."""
        if self.sees_all:
            return True
        try:
            reporter = Recipient.of(self.directory.get(recipient_id or ""))
        except KeyError:
            reporter = None
        if consents is None and request is not None:
            consents = self.registry.consents(request.person)
        audience = audience_of(self.account.roles, self.account.organisation_id, self.agency_role,
                               programme or (request.envelope.programme_id if request else ""))
        return may_see_provider_status(request, reporter, audience, consents, self.policy, self.now)

    def allowed(self, row: dict) -> bool:
        """For a referral_state row (request_id, recipient_id, programme)."""
        from pipeline.episode.state import load_request

        if self.sees_all:
            return True
        return self.may_see(load_request(self.store, row.get("request_id") or ""), row.get("recipient_id") or "",
                            programme=row.get("programme") or "")

    def listed(self, row: dict) -> dict:
        """A track.list_referrals row as this account may see it."""
        from pipeline.track import show_referral

        if self.allowed(row):
            return row
        seen = status_view(show_referral(self.store, row["referral_id"]), False)["referral"]
        return {**row, "state": seen["state"], "business_status": seen["business_status"]}

    def shown(self, found: dict) -> dict:
        """A track.show_referral result as this account may see it."""
        return status_view(found, self.allowed(found["referral"]))


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
