"""Policy tests as data: disclosure questions a privacy officer writes, run through the pure
`decide` (or `may_receive_status`), one line per case. Pure apart from reading the file.

    cases = load_cases(Path("policy-tests.yaml"), policy)     # CaseError names the case and field
    results = [run_case(case, policy) for case in cases]
    print("\\n".join(res.line() for res in results))

The format (README "Policy tests"; the shipped policy-tests.yaml covers every rule):

    now: 2026-12-01                 # optional: the decision time (default 2026-12-01T12:00Z)
    cases:
      - name: ems-to-moud-clinic-for-treatment
        source: covered-entity      # a SourceRole, or unknown (an organisation not in the registry)
        recipient: {type: health-care-provider, part2_programme: true}   # co_responder: true too
        service: sud-treatment
        purpose: treatment
        data: [sud, general]        # what the request reveals: checked against the policy's own reading
        age: 34                     # optional
        match: exact                # exact | uncertain
        reporter: {type: ...}       # optional: the question is then "may the recipient be told the
                                    # status this reporter gave?" (may_receive_status)
        consents:
          - kind: part2             # part2 | hipaa-authorization
            status: active          # active | proposed | revoked
            recipients: [named]     # named | general-designation | other | class:<recipient type>
            purposes: [treatment]
            data: [sud, general]
            expires: 2027-06-30     # a date, or an event ("none", "end of treatment"); omit: none stated
            signed_by: patient      # patient | guardian | personal-representative, or a list
            signer: form:mother     # optional: who signed for the person (default form:signer)
            tpo: false              # optional: a single consent for treatment, payment and operations
            missing: []             # elements absent from the form
        expect: {outcome: permit, variant: full, part2_labels: false}  # also: basis, notice, labels, reason
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from pipeline import records as r
from pipeline.consent.decide import Recipient, decide, may_receive_status
from pipeline.consent.policy import RECIPIENT_TYPES, Policy
from pipeline.vocab import (ConsentKind, ConsentStatus, DataCategory, Match, Outcome, Purpose, Service,
                            SignerCapacity, SourceRole, Variant)

DEFAULT_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
CASE_KEYS = {"name", "source", "recipient", "service", "purpose", "data", "age", "match", "consents", "expect",
             "reporter", "doc"}
CONSENT_KEYS = {"kind", "status", "recipients", "purposes", "data", "expires", "signed_by", "signer", "tpo",
                "missing"}
EXPECT_KEYS = {"outcome", "variant", "part2_labels", "basis", "notice", "labels", "reason"}
PARTY_KEYS = {"type", "part2_programme", "co_responder"}
PERSON = r.PersonKey(person_token="tok-policy-test", key_version=1)
RECIPIENT_ID, OTHER_ID = "recipient", "someone-else"


class CaseError(ValueError):
    """A case the runner cannot read; the message names the case and the field."""


@dataclass(frozen=True)
class Case:
    name: str
    request: r.ReferralRequest
    recipient: Recipient
    purpose: Purpose
    consents: tuple[r.ConsentRecord, ...]
    expect: dict
    now: datetime
    reporter: Recipient | None = None


@dataclass(frozen=True)
class Result:
    case: Case
    decision: r.Decision
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def line(self) -> str:
        d = self.decision
        got = f"{d.outcome.value} {d.variant.value if d.variant else '-'} basis={d.basis.value}"
        text = f"{'pass' if self.passed else 'FAIL'}  {self.case.name}: {got}: {' | '.join(d.reasons)}"
        return text + (f"  <- expected {'; '.join(self.failures)}" if self.failures else "")


def load_cases(path: Path, policy: Policy) -> list[Case]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise CaseError(f"{path.name}: cannot read: {type(e).__name__}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise CaseError(f"{path.name}: needs a non-empty `cases` list")
    now = _when(data.get("now"), "now", "file") or DEFAULT_NOW
    cases = [parse_case(raw, i, policy, now) for i, raw in enumerate(data["cases"])]
    names = [c.name for c in cases]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CaseError(f"{path.name}: case names must be unique: {', '.join(twice)}")
    return cases


def run_case(case: Case, policy: Policy) -> Result:
    if case.reporter is not None:
        decision = may_receive_status(case.request, case.reporter, case.recipient, list(case.consents), policy,
                                      case.now)
    else:
        decision = decide(case.request, case.recipient, case.purpose, list(case.consents), policy, case.now)
    return Result(case, decision, tuple(_compare(case.expect, decision)))


def _compare(expect: dict, d: r.Decision) -> list[str]:
    wrong = []
    checks = {"outcome": d.outcome.value, "variant": d.variant.value if d.variant else None,
              "basis": d.basis.value, "part2_labels": bool(d.labels), "notice": bool(d.notice), "labels": d.labels}
    for key, got in checks.items():
        if key in expect and expect[key] != got:
            wrong.append(f"{key} {expect[key]!r}, got {got!r}")
    if "reason" in expect and not any(str(expect["reason"]) in reason for reason in d.reasons):
        wrong.append(f"a reason containing {expect['reason']!r}")
    return wrong


def parse_case(raw: Any, i: int, policy: Policy, now: datetime = DEFAULT_NOW) -> Case:
    name = str(raw.get("name") or f"case {i + 1}") if isinstance(raw, dict) else f"case {i + 1}"
    if not isinstance(raw, dict):
        raise CaseError(f"{name}: a case is a mapping")

    def fail(where: str, why: str):
        raise CaseError(f"{name}: {where}: {why}")

    def enum(kind, value, where):
        try:
            return kind(value)
        except ValueError:
            fail(where, f"{value!r} is not one of {', '.join(v.value for v in kind)}")

    _no_extra(raw, CASE_KEYS, name)
    for key in ("source", "recipient", "service", "purpose", "data", "expect"):
        if key not in raw:
            fail(key, "required")
    source = None if raw["source"] == "unknown" else enum(SourceRole, raw["source"], "source")
    recipient = _party(raw["recipient"], RECIPIENT_ID, name)
    reporter = _party(raw["reporter"], "reporter", name) if raw.get("reporter") is not None else None
    service = enum(Service, raw["service"], "service")
    purpose = enum(Purpose, raw["purpose"], "purpose")
    data = {enum(DataCategory, d, "data") for d in _list(raw["data"])}
    by_data = {}
    for category, reading in policy.category_data.items():
        by_data.setdefault(reading, category)
    categories = [by_data[d] for d in sorted(data) if d in by_data and d != policy.service_category(service)]
    age = raw.get("age")
    if age is not None and (not isinstance(age, int) or age < 0):
        fail("age", f"{age!r} is not an age in years")
    envelope = r.Envelope(event_id=f"policy-test:{i}", source_system="policy-test", source_record_id=name,
                          occurred_at=now, ingested_at=now, correlation_id="policy-test")
    request = r.ReferralRequest(envelope=envelope, request_id=f"req-{i}", person=PERSON, episode_id=f"ep-{i}",
                         service=service, categories=categories, source_role=source, age=age,
                         match=enum(Match, raw.get("match", "exact"), "match"))
    reads = policy.data_categories(request)
    if reads != data:
        fail("data", f"the policy reads this request as [{', '.join(sorted(reads))}]"
                     f" (the service {service.value} reveals {policy.service_category(service).value})")
    consents = tuple(_consent(c, n, name, now) for n, c in enumerate(raw.get("consents") or []))
    expect = raw["expect"]
    if not isinstance(expect, dict) or "outcome" not in expect:
        fail("expect", "needs at least `outcome`")
    _no_extra(expect, EXPECT_KEYS, f"{name}: expect")
    enum(Outcome, expect["outcome"], "expect.outcome")
    if expect.get("variant") is not None:
        enum(Variant, expect["variant"], "expect.variant")
    return Case(name, request, recipient, purpose, consents, dict(expect), now, reporter)


def _party(raw: Any, pid: str, name: str) -> Recipient:
    if not isinstance(raw, dict) or raw.get("type") not in RECIPIENT_TYPES:
        raise CaseError(f"{name}: {pid}: needs `type`, one of {', '.join(RECIPIENT_TYPES)}")
    _no_extra(raw, PARTY_KEYS, f"{name}: {pid}")
    return Recipient(pid, raw["type"], bool(raw.get("part2_programme")), bool(raw.get("co_responder")))


def _consent(raw: Any, n: int, name: str, now: datetime) -> r.ConsentRecord:
    where = f"{name}: consents[{n}]"
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: a consent is a mapping")
    _no_extra(raw, CONSENT_KEYS, where)
    try:
        kind = ConsentKind(raw.get("kind", ""))
        status = raw.get("status", "active")
        if status not in ("active", "proposed", "revoked"):
            raise ValueError(f"status {status!r} is not active, proposed or revoked")
        recipients, classes, general = [], [], False
        for x in _list(raw.get("recipients", [])):
            if x == "named":
                recipients.append(RECIPIENT_ID)
            elif x == "other":
                recipients.append(OTHER_ID)
            elif x == "general-designation":
                general = True
            elif str(x).startswith("class:") and x[6:] in RECIPIENT_TYPES:
                classes.append(x[6:])
            else:
                raise ValueError(f"recipient {x!r} is not named, general-designation, other or class:<type>")
        expires = raw.get("expires")
        end = _when(expires, "expires", where) if isinstance(expires, (date, datetime)) else None
        return r.ConsentRecord(
            consent_id=f"c-{n + 1}", kind=kind,
            status=ConsentStatus.PROPOSED if status == "proposed" else
            ConsentStatus.INACTIVE if status == "revoked" else ConsentStatus.ACTIVE,
            recipients=recipients, general_designation=general, recipient_classes=classes,
            purposes=[Purpose(p) for p in _list(raw.get("purposes", []))],
            data_categories=sorted({DataCategory(d) for d in _list(raw.get("data", []))}),
            period_end=end, expiry_event="" if end or expires is None else str(expires),
            signed_at=now - timedelta(days=30), artefact_ref=f"doc:{name}:{n + 1}",
            signed_by=[SignerCapacity(s) for s in _list(raw.get("signed_by", "patient"))],
            signer=str(raw.get("signer", "form:signer")), tpo=bool(raw.get("tpo", False)),
            missing_elements=[str(m) for m in _list(raw.get("missing", []))],
            revoked_at=now - timedelta(days=1) if status == "revoked" else None)
    except ValueError as e:
        raise CaseError(f"{where}: {str(e).splitlines()[0]}") from None


def _when(value: Any, field: str, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=timezone.utc)
    raise CaseError(f"{where}: {field}: {value!r} is not a date")


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _no_extra(raw: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise CaseError(f"{where}: unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})")
