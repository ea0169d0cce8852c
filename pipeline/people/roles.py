"""Roles and what each may do: data, read by the web service and the command line (DESIGN.md, "Who uses it").

    allowed(roles, Permission.INBOX)    # True for a provider
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    IT_OPERATOR = "it-operator"          # counts, ids, offsets, reasons: no person-level data
    OUTREACH = "outreach"                # the people in its programme's referrals: the worklist of holds
    PROVIDER = "provider"                # only its own organisation's referrals (bound to one organisation)
    PRIVACY_OFFICER = "privacy-officer"  # the audit log and accountings of disclosures
    PROGRAMME_LEAD = "programme-lead"    # de-identified aggregates only
    ADMIN = "admin"                      # configuration, accounts
    RESPONDER = "responder"              # an officer or crew of an agency: field referrals in, a receipt back


class Permission(StrEnum):
    INBOX = "inbox"              # read and answer the referrals addressed to one's organisation
    DISCLOSURES = "disclosures"  # the accounting of disclosures for one person; the audit export
    AUDIT_STATE = "audit-state"  # the audit chain's state and verify
    HOLDS = "holds"              # open consent holds (person tokens, their age)
    CONSENTS = "consents"        # a person's consents in the registry
    ACCOUNTS = "accounts"        # local accounts
    OPERATIONS = "operations"    # the IT dashboard: counts, lag, dead letters by id (no person data), replay
    REFERRALS = "referrals"      # referral state and status history (status is itself sensitive)
    FIELD_REFERRAL = "field-referral"  # make a field referral for one's agency (nothing comes back)
    CONFIGURATION = "configuration"  # install rules, routing, directory, policy versions (handoff config, /admin/config)
    RECORDS = "records"          # topic records unmasked, person data included (handoff tail --show-phi)
    REPORTS = "reports"          # de-identified programme reports, small cells suppressed (issue 26)
    SURVEILLANCE = "surveillance"  # export the overdose surveillance feed (a public-health disclosure)


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.IT_OPERATOR: frozenset({Permission.OPERATIONS}),
    Role.OUTREACH: frozenset({Permission.HOLDS, Permission.CONSENTS, Permission.REFERRALS,
                              Permission.FIELD_REFERRAL}),
    Role.PROVIDER: frozenset({Permission.INBOX}),
    Role.PRIVACY_OFFICER: frozenset({Permission.DISCLOSURES, Permission.AUDIT_STATE, Permission.HOLDS,
                                     Permission.CONSENTS, Permission.REFERRALS, Permission.RECORDS,
                                     Permission.REPORTS, Permission.SURVEILLANCE}),
    Role.PROGRAMME_LEAD: frozenset({Permission.REPORTS}),
    Role.ADMIN: frozenset({Permission.ACCOUNTS, Permission.CONFIGURATION}),
    Role.RESPONDER: frozenset({Permission.FIELD_REFERRAL}),
}

# Which roles a person-level permission needs, for messages ("needs the privacy-officer role").
def holders(permission: Permission) -> list[str]:
    return [role.value for role, granted in GRANTS.items() if permission in granted]


def allowed(roles: frozenset[Role] | set[Role], permission: Permission) -> bool:
    return any(permission in GRANTS[role] for role in roles)


def parse_roles(text: str | list[str]) -> frozenset[Role]:
    """Roles from 'provider,outreach' or a list; an unknown name is a ValueError naming the known ones."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    try:
        return frozenset(Role(n) for n in names)
    except ValueError:
        bad = next(n for n in names if n not in {r.value for r in Role})
        raise ValueError(f"unknown role {bad!r} (known: {', '.join(r.value for r in Role)})") from None
