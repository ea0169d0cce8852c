"""The outreach worklist: whom to find, where, and by when. Reads the database; no Kafka.

    team = Team("team-north", load_policy(), show_provider=True)
    rows = worklist(store, team, now)
    item = entry(store, "ref-…", team, now)                      # one, or None
    record_attempt(store, "ref-…", person, "phone", "no-answer", "", "ana", now)

Two kinds of entry: a referral held for consent (`consent_hold`, status held) and a request no
recipient is left to ask (`referral_escalation`, status exhausted). A held referral a consent has
released stays reachable by its id (kind `released`), so the consent can be revoked from its page. Each carries what outreach
needs to find the person, from the held request itself: name, date of birth, phone, home address,
the scene and when it happened, the service asked for; nothing clinical beyond that need. Its due
time is the earliest of the hold's expiry and the closed loop's open deadlines; overdue first.

Only the team's programme's people, and only those the consent gate lets it be told of: each
request is decided (pipeline.consent.decide) with purpose `outreach` and the programme as the
recipient; a deny is not shown. A hold is shown: it waits for the very consent the team is
there to capture. `show_provider` False (a team led by law enforcement) leaves out the
recipient and its status. What a provider reported is shown only where the team's viewer
(pipeline.track.visibility.Viewer: the account's organisation, through the legal model) may be
told it; else it reads `withheld`, as in `handoff referrals`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline import records as r
from pipeline.consent.decide import Recipient, decide
from pipeline.consent.policy import Policy
from pipeline.consent.registry import Registry
from pipeline.ids import digest
from pipeline.track.visibility import Viewer, status_view
from pipeline.outreach.links import UNCERTAIN
from pipeline.storage import Store, Transaction
from pipeline.vocab import Outcome, Purpose

METHODS = ("phone", "visit", "text", "letter", "other")
OUTCOMES = ("reached", "no-answer", "left-message", "wrong-number", "not-found", "declined", "other")
LIMIT = 200


@dataclass(frozen=True)
class Team:
    """Whose worklist: the programme (the gate's recipient), the consent policy, and whether the
    team may see providers (not when led by law enforcement)."""

    programme: str
    policy: Policy
    show_provider: bool
    viewer: Viewer | None = None  # whose eyes a provider's status is shown to (None: not asked, tests only)

    def may_see_status(self, request: r.ReferralRequest, recipient: str, consents: list[r.ConsentRecord]) -> bool:
        return self.viewer is None or self.viewer.may_see(request, recipient, consents, self.programme)

    def admits(self, request: r.ReferralRequest, consents: list[r.ConsentRecord], now: datetime) -> bool:
        """May the team be told of this request at all? The gate with purpose outreach and the
        programme as recipient: anything but a deny (a hold waits for the consent it captures)."""
        decision = decide(request, Recipient(self.programme, "other"), Purpose.OUTREACH, consents, self.policy, now)
        return decision.outcome != Outcome.DENY


def team_of(settings, account, store: Store, now: datetime, policy: Policy | None = None) -> Team:
    """The team of this account: the site's programme and policy (loaded from settings unless given);
    providers hidden when its organisation is a law-enforcement agency (settings edges.agencies);
    a provider's status shown as the account may see it."""
    from pipeline.consent.policy import load_policy

    agency = settings.edges.agencies.get(account.organisation_id or "")
    return Team(settings.programme_id, policy or load_policy(settings.consent.policy),
                show_provider=agency is None or agency.kind != "law-enforcement",
                viewer=Viewer(store, settings, account, now))


@dataclass(frozen=True)
class Attempt:
    method: str
    outcome: str
    note: str
    made_by: str
    made_at: str


@dataclass(frozen=True)
class Entry:
    """One person to reach, as the page and `handoff outreach` show it."""

    subject: str                # the held referral's id, or the exhausted request's id
    kind: str                   # consent (held for consent) | released (a consent released it) | unplaced
    person: r.PersonKey
    name: str
    birth_date: str
    phone: str
    home: str
    scene: str
    occurred_at: str
    service: str
    due_at: str
    overdue: bool
    recipient: str = ""         # empty when the team may not see providers
    provider_status: str = ""
    reasons: str = ""
    attempts: list[Attempt] = field(default_factory=list)


class AttemptRefused(ValueError):
    pass


def _address(a: r.Address | None) -> str:
    if a is None:
        return ""
    return ", ".join(p for p in (a.street, a.city, a.state, a.zip) if p)


def _state(tx: Transaction, subject: str, allowed: bool) -> str:
    """The referral's state as the team may see it ('held' before it has one)."""
    current = tx.fetchone("SELECT state, business_status FROM referral_state WHERE referral_id = :s", {"s": subject})
    if current is None:
        return "held"
    sources = tx.fetchall("SELECT source FROM referral_status_history WHERE referral_id = :s", {"s": subject})
    return status_view({"referral": current, "history": sources}, allowed)["referral"]["state"]


def _entry(tx: Transaction, kind: str, subject: str, request: r.ReferralRequest, due: str, now: datetime,
           show_provider: bool, recipient: str = "", reasons: str = "", status_allowed: bool = True) -> Entry:
    who = request.subject or r.Person()
    for row in tx.fetchall("SELECT MIN(due_at) AS due FROM referral_deadline WHERE status = 'open'"
                           " AND (referral_id = :s)", {"s": subject}):
        if row["due"] and (not due or row["due"] < due):
            due = row["due"]
    attempts = [Attempt(a["method"], a["outcome"], a["note"] or "", a["made_by"], a["made_at"]) for a in tx.fetchall(
        "SELECT method, outcome, note, made_by, made_at FROM contact_attempt WHERE subject = :s"
        " ORDER BY made_at DESC, attempt_id", {"s": subject})]
    return Entry(subject=subject, kind=kind, person=request.person,
                 name=" ".join(p for p in (who.given, who.middle, who.family) if p),
                 birth_date=who.birth_date.isoformat() if who.birth_date else "", phone=who.phone,
                 home=_address(who.address), scene=_address(request.location),
                 occurred_at=request.envelope.occurred_at.isoformat(), service=request.service.value,
                 due_at=due, overdue=bool(due) and datetime.fromisoformat(due) < now,
                 recipient=recipient if show_provider else "",
                 provider_status=_state(tx, subject, status_allowed) if show_provider and kind != "unplaced" else "",
                 reasons=reasons if show_provider else "", attempts=attempts)


def _held(tx: Transaction, programme: str, subject: str | None) -> list[tuple]:
    """Open holds; one by its id also once a consent released it (its page keeps the revoke button)."""
    sql = ("SELECT referral_id, recipient_id, reasons, request, expires_at, status FROM consent_hold"
           " WHERE status IN ('held', 'released') AND COALESCE(reasons, '') NOT LIKE :uncertain"  # link review's
           " AND programme_id = :prog")
    params: dict = {"n": LIMIT, "uncertain": UNCERTAIN, "prog": programme}
    if subject:
        sql, params["s"] = sql + " AND referral_id = :s", subject
    else:
        sql += " AND status = 'held'"
    return [("consent" if row["status"] == "held" else "released", row["referral_id"],
             r.ReferralRequest.model_validate_json(row["request"]), row["expires_at"] if row["status"] == "held" else "",
             row["recipient_id"], row["reasons"] or "") for row in tx.fetchall(sql + " LIMIT :n", params)]


def _unplaced(tx: Transaction, programme: str, subject: str | None) -> list[tuple]:
    from pipeline.episode.state import REFERRAL

    sql = ("SELECT e.request_id, e.reason, q.body FROM referral_escalation e JOIN episode_request q"
           " ON q.request_id = e.request_id WHERE e.status = 'exhausted'")
    params: dict = {"n": LIMIT}
    if subject:
        sql, params["s"] = sql + " AND e.request_id = :s", subject
    out = []
    for row in tx.fetchall(sql + " LIMIT :n", params):
        request = REFERRAL.decode(bytes(row["body"]))
        if request.envelope.programme_id != programme:
            continue
        out.append(("unplaced", row["request_id"], request, "", "", row["reason"] or ""))
    return out


def _found(store: Store, tx: Transaction, team: Team, subject: str | None, now: datetime) -> list[Entry]:
    """The programme's open entries the gate admits (one, with `subject`)."""
    registry = Registry(store)
    found = _held(tx, team.programme, subject) + _unplaced(tx, team.programme, subject)
    out = []
    for kind, key, request, due, recipient, why in found:
        consents = registry.consents(request.person, tx)
        if team.admits(request, consents, now):
            out.append(_entry(tx, kind, key, request, due, now, team.show_provider, recipient, why,
                              team.show_provider and team.may_see_status(request, recipient, consents)))
    return out


def worklist(store: Store, team: Team, now: datetime) -> list[Entry]:
    """Every open entry of the programme the gate admits: overdue first, then by due time, then oldest."""
    with store.transaction() as tx:
        entries = _found(store, tx, team, None, now)
    return sorted(entries, key=lambda e: (not e.overdue, e.due_at or "9999", e.occurred_at, e.subject))


def entry(store: Store, subject: str, team: Team, now: datetime) -> Entry | None:
    with store.transaction() as tx:
        found = _found(store, tx, team, subject, now)
    return found[0] if found else None


def record_attempt(store: Store, subject: str, person: r.PersonKey, method: str, outcome: str, note: str,
                   user: str, now: datetime) -> str:
    """One contact attempt on an entry; returns its id. Unknown method or outcome: AttemptRefused."""
    if method not in METHODS:
        raise AttemptRefused(f"method must be one of {', '.join(METHODS)}")
    if outcome not in OUTCOMES:
        raise AttemptRefused(f"outcome must be one of {', '.join(OUTCOMES)}")
    attempt_id = "att-" + digest(subject, user, now.isoformat(), method, outcome, length=24)
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO contact_attempt (attempt_id, subject, person_token, method, outcome, note, made_by,"
                   " made_at) VALUES (:id, :s, :token, :m, :o, :note, :by, :at) ON CONFLICT (attempt_id) DO NOTHING",
                   {"id": attempt_id, "s": subject, "token": person.person_token, "m": method, "o": outcome,
                    "note": note.strip()[:500] or None, "by": user, "at": now.isoformat()})
    return attempt_id
