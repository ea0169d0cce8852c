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
  audit.jsonl        {"audit_id", "kind", "outcome", "referral_id", "recipient_id", "message_id"}:
                     the audit sink's stored records (delivery results and views carry the ids)
  views.jsonl        {"view_id", "user", "referral_id"}: person-level views served (optional)
  revocations.jsonl  {"consent_id", "at"}: consents the campaign revoked, and when the edge accepted
                     the revocation (epoch s; optional). A decision names the consent it relies on
                     ("basis", "consent_id" in decisions.jsonl)
  status.jsonl       {"referral_id", "state", "at"}: referral states (optional: reported only)
  deadletters.jsonl  {"topic", "stage", "reason"}
  faults.jsonl       {"kind", "target", "at", "until"}: what the schedule did, and when (epoch s)

Violations (each makes the exit code 1): an expected referral not held by its recipient (lost);
more than one create (or the same update twice) held for one referral at one recipient
(duplicated); a held message without a permitting decision for that message id, or one that a
re-check denied, or one held more than GRACE seconds after the consent its permit relies on was
revoked (delivered without a permit); a held message without a delivery-result audit
record for its message id (a disclosure without an audit record); a view without its view
audit record. Reported: dead letters by reason, states, and the drain time, from the end of
the last fault to the last delivery.
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PERMITS = {"permit", "permit-redacted"}
GRACE = 2.0  # a send already past its re-check when the revocation came (s)
DISCLOSED = {"delivered", "duplicate"}


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
    dead_letters: Counter = field(default_factory=Counter)
    states: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    drain_seconds: float | None = None

    @property
    def violations(self) -> int:
        return (len(self.lost) + len(self.duplicated) + len(self.unpermitted) + len(self.unaudited)
                + len(self.unaudited_views))

    def lines(self) -> list[str]:
        drain = "n/a (no delivery after the last fault)" if self.drain_seconds is None else f"{self.drain_seconds:.1f} s"
        out = [f"expected referrals: {self.expected}; messages held by recipients: {self.held}",
               f"faults: {sum(self.faults.values())} ({', '.join(f'{k} {v}' for k, v in sorted(self.faults.items())) or 'none'})",
               f"referrals lost: {len(self.lost)}",
               f"duplicated at a recipient: {len(self.duplicated)}",
               f"delivered without a permitting decision: {len(self.unpermitted)}",
               f"disclosures without an audit record: {len(self.unaudited)}",
               f"person-level views without an audit record: {len(self.unaudited_views)}",
               f"dead letters: {sum(self.dead_letters.values())}"]
        out += [f"  {n:6d}  {reason}" for reason, n in self.dead_letters.most_common(20)]
        out += [f"referral states: {', '.join(f'{k} {v}' for k, v in sorted(self.states.items())) or 'none'}",
                f"drain time after the last fault: {drain}"]
        for label, items in (("lost", self.lost), ("duplicated", self.duplicated), ("unpermitted", self.unpermitted),
                             ("unaudited", self.unaudited), ("unaudited view", self.unaudited_views)):
            out += [f"  {label}: {item}" for item in items[:10]]
        out.append(f"violations: {self.violations}")
        return out


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

    viewed = {a["audit_id"] for a in read(directory, "audit") if a["kind"] == "view"}
    report.unaudited_views = [v["view_id"] for v in read(directory, "views") if v["view_id"] not in viewed]
    report.dead_letters = Counter(f"{x['topic']}: {x['reason']}" for x in read(directory, "deadletters"))
    last_state: dict[str, dict] = {}
    for s in read(directory, "status"):
        if s["referral_id"] not in last_state or s["at"] >= last_state[s["referral_id"]]["at"]:
            last_state[s["referral_id"]] = s
    report.states = Counter(s["state"] for s in last_state.values())
    faults = read(directory, "faults")
    report.faults = Counter(f["kind"] for f in faults)
    if faults and delivered:
        calm = max(f.get("until", f["at"]) for f in faults)
        last = max(m["at"] for m in delivered)
        report.drain_seconds = max(0.0, last - calm) if last >= calm else None
    return report


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
