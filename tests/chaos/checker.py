"""The fault campaign's offline checker: joins what was expected, delivered, decided, audited and
dead-lettered, and says what went wrong.

    python -m tests.chaos.checker DUMP_DIR        # prints the report; exit 1 on any violation

A dump is a directory of JSON-lines files, written by tests/chaos/collect.py after a run (or
by hand, or doctored on purpose):

  expected.jsonl     {"referral_id", "recipient_id"}: what the generator's inputs must produce
  delivered.jsonl    {"recipient_id", "referral_id", "message_id", "action", "at"}: one line per
                     message a recipient holds (read from the peers themselves, not from Handoff)
  decisions.jsonl    {"referral_id", "recipient_id", "message_id", "outcome"}: every decision
                     Handoff took for a message (permit / permit-redacted on the outbox, deny on
                     the re-check before sending)
  audit.jsonl        {"audit_id", "kind", "outcome", "referral_id", "recipient_id", "message_id", "sources"}:
                     the audit sink's stored records (delivery results and views carry the ids; a
                     decision names the request it decided in "sources")
  requests.jsonl     {"request_id", "revision", "sources", "incident"}: the referral requests the
                     detection and field stages made (optional), with their source records' ids and their
                     incident number; each must have a decision on record (permit, deny, hold, or none
                     for want of a recipient): a request the routing stage dropped is lost before any
                     "expected" referral exists
  must_refer.jsonl   {"input", "id", "refer", "requests", "why"}: the generator's own word on its CAD rows,
                     police field referrals and 911 calls (tests/chaos/oracle.py): whether each must make
                     referral requests, and how many distinct ones at least (one per service; optional);
                     a request names an input by a source record's id or its incident
  views.jsonl        {"view_id", "user", "referral_id", "query"}: person-level views served (optional);
                     audited when a view audit record has that id, or is by that user ("user:" actor)
                     about that referral with that query (path), one record per view
  replies.jsonl      {"referral_id", "recipient_id", "action", "state", "channel", "at"}: provider answers
                     the reply edges took (optional); the referral must end in its last answer's state
  alerts.jsonl       {"team", "message_id", "action", "incident_number", "version", "at", "body"}: what the
                     co-responder teams' webhooks accepted (optional)
  expected_alerts.jsonl  {"incident_number", "alert", "closed"}: the 911 calls sent and whether each must
                     raise an alert (and, closed, its withdrawal) or none
  states.jsonl       {"referral_id", "state", "recipient_id"}: the closed loop's current states
  revocations.jsonl  {"consent_id", "at"}: consents the campaign revoked, and when the edge accepted
                     the revocation (epoch s; optional). A decision names the consent it relies on
                     ("basis", "consent_id" in decisions.jsonl)
  status.jsonl       {"referral_id", "state", "at", "source"}: the status history (reported: the last
                     state of each referral, and how many a missed deadline cancelled)
  deadletters.jsonl  {"topic", "stage", "reason"}
  faults.jsonl       {"kind", "target", "at", "until"}: what the schedule did, and when (epoch s)

Violations (each makes the exit code 1): an expected referral not held by its recipient (lost);
more than one create (or the same update twice) held for one referral at one recipient
(duplicated); a held message without a permitting decision for that message id, or one that a
re-check denied, or one held more than GRACE seconds after the consent its permit relies on was
revoked (delivered without a permit); a held message without a delivery-result audit
record for its message id (a disclosure without an audit record); a view without its view
audit record; a referral a provider answered that does not end in the state of its last answer
(answers lost); a referral request with no decision on record (undecided); an input that must
make a referral request that no request names (unreferred), or one that must not that a request
names (referred without cause); a 911 call that must raise an alert without exactly one (or, closed,
without its withdrawal), or one that must raise none with any (alerts wrong). Reported: dead
letters by reason, states, and the drain time, from the end of the last fault to the last delivery.
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PERMITS = {"permit", "permit-redacted"}
GRACE = 2.0  # a send already past its re-check when the revocation came (s)
DISCLOSED = {"delivered", "duplicate", "unconfirmed"}  # unconfirmed: sent, no answer, replaced by a later one


def read(directory: Path, name: str) -> list[dict]:
    path = directory / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Report:
    expected: int = 0
    held: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)
    duplicated: list[tuple[str, str, str]] = field(default_factory=list)
    unpermitted: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    unaudited_views: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    requests: int = 0
    unreferred: list[str] = field(default_factory=list)
    uncaused: list[str] = field(default_factory=list)
    must_refer: Counter = field(default_factory=Counter)  # inputs by kind: "field", "not cad", ...
    alerts_wrong: list[str] = field(default_factory=list)
    alerts: Counter = field(default_factory=Counter)
    replies: Counter = field(default_factory=Counter)
    swept: int = 0
    dead_letters: Counter = field(default_factory=Counter)
    states: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    drain_seconds: float | None = None
    views: int = 0

    @property
    def violations(self) -> int:
        return (len(self.lost) + len(self.duplicated) + len(self.unpermitted) + len(self.unaudited)
                + len(self.unaudited_views) + len(self.unanswered) + len(self.undecided)
                + len(self.unreferred) + len(self.uncaused) + len(self.alerts_wrong))

    def lines(self) -> list[str]:
        drain = "n/a (no delivery after the last fault)" if self.drain_seconds is None else f"{self.drain_seconds:.1f} s"
        out = [f"expected referrals: {self.expected}; messages held by recipients: {self.held}",
               f"faults: {sum(self.faults.values())} ({', '.join(f'{k} {v}' for k, v in sorted(self.faults.items())) or 'none'})",
               f"referrals lost: {len(self.lost)}",
               f"duplicated at a recipient: {len(self.duplicated)}",
               f"delivered without a permitting decision: {len(self.unpermitted)}",
               f"disclosures without an audit record: {len(self.unaudited)}",
               f"person-level views without an audit record: {len(self.unaudited_views)} (of {self.views})",
               f"dispatch alerts wrong: {len(self.alerts_wrong)} (held: "
               f"{', '.join(f'{k} {v}' for k, v in sorted(self.alerts.items())) or 'none'})",
               f"provider answers not in the final state: {len(self.unanswered)} "
               f"(answers: {', '.join(f'{k} {v}' for k, v in sorted(self.replies.items())) or 'none'})",
               f"referral requests without a decision: {len(self.undecided)} (of {self.requests})",
               f"inputs that must refer without a request: {len(self.unreferred)} (of {self._inputs(True)})",
               f"inputs that must not refer with a request: {len(self.uncaused)} (of {self._inputs(False)})",
               f"dead letters: {sum(self.dead_letters.values())}"]
        out += [f"  {n:6d}  {reason}" for reason, n in self.dead_letters.most_common(20)]
        out += [f"referral states: {', '.join(f'{k} {v}' for k, v in sorted(self.states.items())) or 'none'}",
                f"cancelled by a missed deadline (the sweep): {self.swept}",
                f"drain time after the last fault: {drain}"]
        for label, items in (("lost", self.lost), ("duplicated", self.duplicated), ("unpermitted", self.unpermitted),
                             ("unaudited", self.unaudited), ("unaudited view", self.unaudited_views),
                             ("answer lost", self.unanswered), ("undecided", self.undecided),
                             ("unreferred", self.unreferred), ("referred without cause", self.uncaused),
                             ("alert", self.alerts_wrong)):
            out += [f"  {label}: {item}" for item in items[:10]]
        out.append(f"violations: {self.violations}")
        return out

    def _inputs(self, refer: bool) -> str:
        kinds = {k.removeprefix("not "): n for k, n in self.must_refer.items() if k.startswith("not ") != refer}
        return f"{sum(kinds.values())}: " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none")


def check(directory: Path) -> Report:
    report = Report()
    expected = {(x["referral_id"], x["recipient_id"]) for x in read(directory, "expected")}
    delivered = read(directory, "delivered")
    report.expected, report.held = len(expected), len(delivered)

    held_at: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for message in delivered:
        held_at[(message["referral_id"], message["recipient_id"])].append(message)
    report.lost = sorted(key for key in expected
                         if not any(m["action"] in ("create", "update") for m in held_at.get(key, [])))

    for (referral, recipient), messages in sorted(held_at.items()):
        by_action = Counter((m["action"], m["message_id"]) for m in messages)
        creates = {mid for action, mid in by_action if action == "create"}
        if len(creates) > 1 or any(n > 1 for n in by_action.values()):
            report.duplicated.append((referral, recipient, f"{len(messages)} messages, {len(creates)} creates"))

    permitted, denied, relies = set(), set(), {}
    for d in read(directory, "decisions"):
        key = (d["referral_id"], d["recipient_id"], d["message_id"])
        (permitted if d["outcome"] in PERMITS else denied).add(key)
        if d.get("consent_id") and d["outcome"] in PERMITS:
            relies[key] = d["consent_id"]
    revoked = {x["consent_id"]: x["at"] for x in read(directory, "revocations")}
    audited = {(a["referral_id"], a["recipient_id"], a["message_id"]) for a in read(directory, "audit")
               if a["kind"] == "delivery-result" and a["outcome"] in DISCLOSED}
    for m in delivered:
        key = (m["referral_id"], m["recipient_id"], m["message_id"])
        if key not in permitted or key in denied:
            report.unpermitted.append(m["message_id"])
        elif relies.get(key) in revoked and m["at"] > revoked[relies[key]] + GRACE:
            report.unpermitted.append(f"{m['message_id']} (after consent {relies[key]} was revoked)")
        if key not in audited:
            report.unaudited.append(m["message_id"])

    report.unaudited_views, report.views = _unaudited_views(directory)
    report.undecided, report.requests = _undecided(directory)
    report.unreferred, report.uncaused, report.must_refer = _referred_wrong(directory)
    report.unanswered, report.replies = _answers_lost(directory)
    report.alerts_wrong, report.alerts = _alerts_wrong(directory)
    report.dead_letters = Counter(f"{x['topic']}: {x['reason']}" for x in read(directory, "deadletters"))
    # the closed loop's current states (referral_state), not the status history's last row: a refused
    # report (a repeat, an answer from the wrong state) is a row there but changes nothing
    report.states = Counter(s["state"] for s in read(directory, "states"))
    report.swept = sum(1 for s in read(directory, "status") if s["state"] == "cancelled" and s.get("source") == "track")
    faults = read(directory, "faults")
    report.faults = Counter(f["kind"] for f in faults)
    if faults and delivered:
        calm = max(f.get("until", f["at"]) for f in faults)
        last = max(m["at"] for m in delivered)
        report.drain_seconds = max(0.0, last - calm) if last >= calm else None
    return report


def _undecided(directory: Path) -> tuple[list[str], int]:
    """Referral requests that no decision audit record names (of all the requests made)."""
    requests = {q["request_id"] for q in read(directory, "requests")}
    decided = {source for a in read(directory, "audit") if a["kind"] == "decision" for source in a.get("sources", [])}
    return sorted(requests - decided), len(requests)


def _referred_wrong(directory: Path) -> tuple[list[str], list[str], Counter]:
    """The generator's inputs that must refer and that no request names, and those that must not and
    that one does (a request names its source records' ids and its incident number)."""
    named: dict[str, set[str]] = defaultdict(set)  # an input's id → the distinct requests naming it
    for q in read(directory, "requests"):
        for name in {*q.get("sources", []), q.get("incident", "")}:
            named[name].add(q["request_id"])
    inputs = read(directory, "must_refer")
    wrong = [x for x in inputs if (len(named.get(x["id"], ())) < x.get("requests", 1) if x["refer"]
                                   else x["id"] in named)]
    unreferred, uncaused = ([f"{x['input']} {x['id']} ({x['why']})" for x in wrong if x["refer"] == refer]
                            for refer in (True, False))
    return unreferred, uncaused, Counter(("" if x["refer"] else "not ") + x["input"] for x in inputs)


def _unaudited_views(directory: Path) -> tuple[list[str], int]:
    audits = [a for a in read(directory, "audit") if a["kind"] == "view" and a["outcome"] == "success"]
    ids = {a["audit_id"] for a in audits}
    left = Counter((a.get("actor", ""), a["referral_id"], a.get("query", "")) for a in audits)
    missing, views = [], read(directory, "views")
    for v in views:
        key = (f"user:{v['user']}", v["referral_id"], v.get("query", ""))
        if v["view_id"] in ids:
            continue
        if left[key] > 0:
            left[key] -= 1
        else:
            missing.append(v["view_id"])
    return missing, len(views)


def _answers_lost(directory: Path) -> tuple[list[str], Counter]:
    """Referrals whose current state is not the state of the last answer a provider's edge took."""
    replies = read(directory, "replies")
    last: dict[str, dict] = {}
    for x in sorted(replies, key=lambda x: x["at"]):
        last[x["referral_id"]] = x
    current = {s["referral_id"]: s["state"] for s in read(directory, "states")}
    refused = {s["referral_id"]: s.get("reason", "") for s in read(directory, "status")
               if s.get("outcome") == "refused" and s.get("source") == "provider"}
    lost = [f"{rid} answered {x['action']} ({x['channel']}), is {current.get(rid, 'unknown')}"
            + (f" (track refused: {refused[rid]})" if refused.get(rid) else "")
            for rid, x in sorted(last.items()) if current.get(rid) != x["state"]]
    return lost, Counter(f"{x['channel']} {x['action']}" for x in replies)


def _alerts_wrong(directory: Path) -> tuple[list[str], Counter]:
    held = read(directory, "alerts")
    by_call: dict[str, set[tuple[str, str]]] = defaultdict(set)  # one message id is one alert (a resend is not two)
    for a in held:
        by_call[a["incident_number"]].add((a["action"], a["message_id"]))
    wrong = []
    for call in read(directory, "expected_alerts"):
        got = by_call.get(call["incident_number"], set())
        raised = sum(1 for action, _ in got if action == "alert")
        if call["alert"] and raised != 1:
            wrong.append(f"{call['incident_number']}: {raised} alerts raised, want 1")
        if call["alert"] and call["closed"] and not any(action == "withdraw" for action, _ in got):
            wrong.append(f"{call['incident_number']}: closed, its alert not withdrawn")
        if not call["alert"] and got:
            wrong.append(f"{call['incident_number']}: {len(got)} alert messages for a call that must raise none")
    return wrong, Counter(a["action"] for a in held)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m tests.chaos.checker DUMP_DIR", file=sys.stderr)
        return 2
    report = check(Path(args[0]))
    print("\n".join(report.lines()))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
