"""The shadow replay: what a new version would change, before it goes live.

    report = compare("routing", current, candidate, inputs, timezone)   # pure
    report = dry_run(store, settings, bundle, "admin-1", days=7, now)   # read the broker, compare, keep

The recorded input of the last N days — EMS runs, CAD incidents, referral requests, and the
consent sets — is read from the topics with a fresh consumer (no group, nothing committed) and
run through the pure stage functions twice, under the versions in force and with the candidate in
their place, in memory. Nothing is sent and nothing is installed; the dry run writes one `admin`
audit record of its own and keeps the candidate with its report as a proposal for the admin page.

What is compared, per record:
  detection gained / lost      the categories an EMS run or a CAD incident is classified with
  referral asked / not asked   the services a run's detections call for (the needs table)
  referral rerouted / now routed / no longer routed
                               the recipients a referral request goes to (routing, directory)
  decision changed             the consent decision for a recipient asked under both versions

Each change names its category (detection category, or the referral's service), its area (the
county, else ZIP, of the person's home or the scene) and its case: the record (agency/PCR number,
dispatch centre/incident number) or the referral request id with its person token, which a privacy
officer opens on /privacy/disclosures. The request's own time is the routing time (opening hours).
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Iterable

from pipeline import geo
from pipeline import records as r
from pipeline.consent.decide import Recipient, decide
from pipeline.detect.engine import classify_incident, classify_run
from pipeline.route import facts_of, place_of, route

INPUTS = ("ems.run", "dispatch.incident", "referral.request")


@dataclass(frozen=True)
class Change:
    what: str
    category: str
    area: str
    case: str
    person: str = ""  # the person token, for a referral
    before: str = ""
    after: str = ""


@dataclass
class Report:
    kind: str
    current_version: str
    new_version: str
    since: str
    until: str
    read: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    proposal: str = ""  # the proposal kept for the admin page (a dry run's)

    def summary(self) -> list[tuple[str, str, str, int]]:
        """(what, category, area, count), most first."""
        counts = Counter((c.what, c.category, c.area) for c in self.changes)
        return sorted(((w, c, a, n) for (w, c, a), n in counts.items()), key=lambda x: (-x[3], x[:3]))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, data: dict) -> "Report":
        return cls(**{**data, "changes": [Change(**c) for c in data.get("changes", [])]})


@dataclass(frozen=True)
class Inputs:
    runs: tuple[r.EmsRun, ...] = ()
    incidents: tuple[r.DispatchIncident, ...] = ()
    requests: tuple[r.ReferralRequest, ...] = ()
    consents: dict[str, list[r.ConsentRecord]] = field(default_factory=dict)  # person token -> current set


def area_of(address: r.Address | None) -> str:
    if address is None:
        return "unknown area"
    name = address.county if address.county and not address.county.isdigit() else \
        geo.county_name(address.county_code or address.county)
    if name:
        return name if name.lower().endswith(("county", "parish")) else f"{name} County"
    return f"ZIP {address.zip[:5]}" if address.zip else "unknown area"


def _request_area(request: r.ReferralRequest) -> str:
    home = request.subject.address if request.subject else None
    return area_of(home) if place_of(home).known else area_of(request.location)


def _latest(records: Iterable, key) -> list:
    """The newest version of each record (the last one read wins), in first-seen order."""
    found: dict = {}
    for record in records:
        found[key(record)] = record
    return list(found.values())


def _detections(changes: list[Change], inputs: Inputs, old: dict, new: dict) -> None:
    incidents = {i.key: i for i in inputs.incidents}
    for run in inputs.runs:
        dispatch = incidents.get(run.key)
        a = set(classify_run(run, old["rules"], dispatch).categories)
        b = set(classify_run(run, new["rules"], dispatch).categories)
        case, area = f"{run.agency_id}/{run.pcr_number}", area_of(run.scene)
        changes += [Change("detection gained", c.value, area, case) for c in sorted(b - a)]
        changes += [Change("detection lost", c.value, area, case) for c in sorted(a - b)]
        sa = set(old["routing"].services_for(a, facts_of([run])))
        sb = set(new["routing"].services_for(b, facts_of([run])))
        changes += [Change("referral asked", s.value, area, case) for s in sorted(sb - sa)]
        changes += [Change("referral not asked", s.value, area, case) for s in sorted(sa - sb)]
    for incident in inputs.incidents:
        a = set(classify_incident(incident, old["rules"]).categories)
        b = set(classify_incident(incident, new["rules"]).categories)
        case = f"{incident.key.dispatch_centre}/{incident.key.incident_number}"
        area = area_of(incident.location)
        changes += [Change("detection gained", c.value, area, case) for c in sorted(b - a)]
        changes += [Change("detection lost", c.value, area, case) for c in sorted(a - b)]


def _asked(request: r.ReferralRequest, config: dict, consents, tz: tzinfo) -> dict[str, r.Decision]:
    """{recipient id: decision} for the recipients a request goes to first (route, then decide)."""
    at = request.envelope.occurred_at.astimezone(tz)
    place = place_of(request.subject.address if request.subject else None, request.location)
    candidates = route(request, config["directory"], config["routing"], place, at, age=request.age,
                       language=request.subject.language if request.subject else "",
                       exclude=frozenset(request.exclude))[:config["routing"].fan_out]
    return {c.provider.id: decide(request, Recipient.of(c.provider), c.purpose, consents, config["policy"], at)
            for c in candidates}


def _word(d: r.Decision) -> str:
    return f"{d.outcome.value}" + (f" ({d.variant.value})" if d.variant else "") + f" on {d.basis.value}"


def _referrals(changes: list[Change], inputs: Inputs, old: dict, new: dict, tz: tzinfo) -> None:
    for request in inputs.requests:
        consents = inputs.consents.get(request.person.person_token, [])
        a, b = _asked(request, old, consents, tz), _asked(request, new, consents, tz)
        base = dict(category=request.service.value, area=_request_area(request), case=request.request_id,
                    person=request.person.person_token)
        if set(a) != set(b):
            what = "referral now routed" if not a else "referral no longer routed" if not b else "referral rerouted"
            changes.append(Change(what, before=", ".join(sorted(a)) or "nobody", after=", ".join(sorted(b)) or "nobody",
                                  **base))
            continue
        for rid in sorted(a):
            if (a[rid].outcome, a[rid].variant, a[rid].basis) != (b[rid].outcome, b[rid].variant, b[rid].basis):
                changes.append(Change("decision changed", before=f"{rid}: {_word(a[rid])}",
                                      after=f"{rid}: {_word(b[rid])}", **base))


def compare(kind: str, old: dict[str, Any], new: dict[str, Any], inputs: Inputs, tz: tzinfo,
            since: datetime, until: datetime) -> Report:
    """`old`, `new`: {kind: loaded value} of all four kinds; `new` differs from `old` in `kind` only."""
    changes: list[Change] = []
    _detections(changes, inputs, old, new)
    _referrals(changes, inputs, old, new, tz)
    return Report(kind, str(old[kind].version), str(new[kind].version), since.isoformat(), until.isoformat(),
                  {"ems.run": len(inputs.runs), "dispatch.incident": len(inputs.incidents),
                   "referral.request": len(inputs.requests),
                   "consent": sum(len(v) for v in inputs.consents.values())},
                  sorted(changes, key=lambda c: (c.what, c.category, c.area, c.case)))


async def read_inputs(bootstrap: str, catalogue, since: datetime, **options) -> Inputs:
    """The input topics from `since` (the consent sets: all, the newest per person), with a fresh
    consumer outside any group: nothing is committed, nothing is produced."""
    from pipeline.kafka.read import read_topic

    since_ms = int(since.timestamp() * 1000)
    read = {}
    for name in (*INPUTS, "consent"):
        topic = catalogue[name]
        messages = await read_topic(bootstrap, topic.full_name, since_ms=None if name == "consent" else since_ms,
                                    **options)
        read[name] = [topic.value.decode(m.value) for m in messages if m.value is not None]
    sets = _latest(read["consent"], lambda s: s.person.person_token)
    return Inputs(runs=tuple(_latest(read["ems.run"], lambda x: (x.agency_id, x.pcr_number))),
                  incidents=tuple(_latest(read["dispatch.incident"], lambda x: x.key)),
                  requests=tuple(_latest(read["referral.request"], lambda x: x.request_id)),
                  consents={s.person.person_token: list(s.consents) for s in sets})


def dry_run(store, settings, bundle, user: str, days: float, now: datetime) -> Report:
    """Validate, replay, compare; keep the proposal and write the dry run's own audit record."""
    from zoneinfo import ZoneInfo

    from pipeline.audit.emit import admin_audit, os_user
    from pipeline.audit.sink import record_direct
    from pipeline.config import versions
    from pipeline.config.apply import check_against_force
    from pipeline.kafka.secure import client_options
    from pipeline.topics import Catalogue

    found, in_force = check_against_force(store, settings, bundle)
    if not found.ok:
        raise ValueError(f"{bundle.kind} fails validation, nothing replayed: {found.errors[0]}")
    old = {kind: c.value for kind, c in in_force.items()}
    since = now - timedelta(days=days)
    inputs = asyncio.run(read_inputs(settings.kafka.bootstrap, Catalogue.from_settings(settings), since,
                                     **client_options(settings.kafka)))
    report = compare(bundle.kind, old, {**old, bundle.kind: found.value}, inputs, ZoneInfo(settings.routing.timezone),
                     since, now)
    pid = versions.propose(store, bundle, found.value.version, report.current_version, report.to_dict(), user, now)
    record_direct(store, admin_audit(user, now, "config-dry-run", f"config:{bundle.kind}", {
        "kind": bundle.kind, "version": found.value.version, "current": report.current_version,
        "days": f"{days:g}", "records": str(sum(report.read.values())), "changes": str(len(report.changes)),
        "proposal": pid}, os_user()))
    report.proposal = pid
    return report


def render_text(report: Report, cases: int = 50) -> str:
    """The report for a terminal: what was read, the counts by change, category and area, the cases."""
    read = ", ".join(f"{n} {name}" for name, n in report.read.items())
    lines = [f"dry run: {report.kind} {report.current_version} -> {report.new_version}",
             f"replayed {report.since[:19]} .. {report.until[:19]}: {read}; nothing sent, nothing installed",
             f"{len(report.changes)} change(s)"]
    for what, category, area, n in report.summary():
        lines.append(f"  {n:>5}  {what:<26} {category:<20} {area}")
        shown = [c for c in report.changes if (c.what, c.category, c.area) == (what, category, area)][:cases]
        for c in shown:
            person = f" person {c.person}" if c.person else ""
            moved = f": {c.before} -> {c.after}" if c.before or c.after else ""
            lines.append(f"         case {c.case}{person}{moved}")
    if report.proposal:
        lines.append(f"proposal {report.proposal}: review and apply on /admin/config, or `handoff config apply` the file")
    return "\n".join(lines)
