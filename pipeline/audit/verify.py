"""Verify the audit log: every chain, every checkpoint, and the exported copies.

`verify(links, checkpoints, verifier, exported)` is pure: it takes the stored rows and
returns a Report whose `breaks` hold the first break of each broken partition. What it
catches, and how:

- an edited record: its recomputed hash differs (or an indexed column disagrees with the body);
- a deleted, inserted or reordered record: a gap or repeat in the positions, or a
  previous-hash that is not the previous link's hash;
- a truncated chain: a sealed segment whose last record is gone;
- a dropped or edited checkpoint: a gap in checkpoint numbers, a broken `prev`, a bad signature;
- a rewrite of the whole chain with re-signed checkpoints (an attacker who holds the
  key): the checkpoints differ from, or are missing against, the exported copies.

The unsealed tail (records after the last seal) is protected by the chain only; the
report names its length as a warning.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from pipeline.audit.chain import EXPIRE, GENESIS, SEAL, Break, Checkpoint, Link, Report, link_hash
from pipeline.audit.signing import Verifier

Decode = Callable[[bytes], Any]


class _Broken(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where, self.reason = where, reason


def verify(links: Iterable[Link], checkpoints: Iterable[Checkpoint], verifier: Verifier,
           exported: Iterable[Checkpoint] | None = None, decode: Decode | None = None) -> Report:
    by_part: dict[int, list[Link]] = {}
    for link in links:
        by_part.setdefault(link.partition, []).append(link)
    cps: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        cps.setdefault(cp.partition, []).append(cp)
    exp: dict[int, list[Checkpoint]] = {}
    for cp in exported or ():
        exp.setdefault(cp.partition, []).append(cp)
    report = Report()
    for partition in sorted(set(by_part) | set(cps) | set(exp)):
        chain = sorted(by_part.get(partition, []), key=lambda l: l.seq)
        marks = sorted(cps.get(partition, []), key=lambda c: c.number)
        report.partitions += 1
        report.records += len(chain)
        report.checkpoints += len(marks)
        try:
            if exported is not None:
                _against_export(partition, marks, exp.get(partition, []), report)
            seals, start, anchor = _checkpoints(partition, marks, verifier)
            sealed_to = _links(partition, chain, seals, start, anchor, decode)
            report.sealed += max(0, sealed_to - start + 1)
            tail = len(chain) - max(0, sealed_to - start + 1)
            if tail:
                report.warnings.append(f"partition {partition}: {tail} records after the last seal "
                                       "(protected by the chain only until sealed)")
        except _Broken as b:
            report.breaks.append(Break(partition, b.where, b.reason))
    return report


def _against_export(partition: int, marks: list[Checkpoint], exported: list[Checkpoint], report: Report) -> None:
    stored = {c.number: c for c in marks}
    for cp in sorted(exported, key=lambda c: c.number):
        mine = stored.get(cp.number)
        if mine is None:
            raise _Broken(f"checkpoint {cp.number}", "exported checkpoint missing from the store")
        if mine.statement != cp.statement:
            raise _Broken(f"checkpoint {cp.number}", "stored checkpoint differs from the exported copy")
    missing = len([n for n in stored if n not in {c.number for c in exported}])
    if missing:
        report.warnings.append(f"partition {partition}: {missing} checkpoints not in the exported copy yet")


def _checkpoints(partition: int, marks: list[Checkpoint], verifier: Verifier
                 ) -> tuple[dict[int, tuple[int, str, str]], int, str]:
    """Check the checkpoint chain; returns the live seals {last_seq: (first_seq, first_prev, last_hash)},
    the first position still stored, and the hash it hangs from."""
    seals: dict[int, tuple[int, str, str]] = {}
    seal_ends: dict[int, str] = {}  # last_seq -> last_hash of every seal, live or expired
    prev, next_seq, start, anchor = GENESIS, 0, 0, GENESIS
    for number, cp in enumerate(marks):
        where = f"checkpoint {cp.number}"
        if cp.number != number:
            raise _Broken(f"checkpoint {number}", "missing (checkpoint numbers jump)")
        s = cp.fields
        problem = verifier.check(cp.statement, cp.signature, s.get("key_id", ""))
        if problem:
            raise _Broken(where, problem)
        if s.get("partition") != partition or s.get("number") != cp.number or s.get("type") != cp.kind:
            raise _Broken(where, "statement does not match its row")
        if s.get("prev") != prev:
            raise _Broken(where, "does not follow the previous checkpoint")
        prev = cp.hash
        if cp.kind == SEAL:
            if s["first_seq"] != next_seq or s["last_seq"] < s["first_seq"]:
                raise _Broken(where, f"seals {s['first_seq']}..{s['last_seq']}, expected to start at {next_seq}")
            seals[s["last_seq"]] = (s["first_seq"], s["first_prev_hash"], s["last_hash"])
            seal_ends[s["last_seq"]] = s["last_hash"]
            next_seq = s["last_seq"] + 1
        elif cp.kind == EXPIRE:
            through = s["through_seq"]
            if seal_ends.get(through) != s["anchor_hash"] or through < start:
                raise _Broken(where, "expiry does not end at a sealed segment's end")
            start, anchor = through + 1, s["anchor_hash"]
            seals = {end: v for end, v in seals.items() if end > through}
        else:
            raise _Broken(where, f"unknown checkpoint type {cp.kind!r}")
    return seals, start, anchor


def _links(partition: int, chain: list[Link], seals: dict[int, tuple[int, str, str]], start: int, anchor: str,
           decode: Decode | None) -> int:
    """Walk the chain; returns the last sealed position reached (start - 1 when none)."""
    expected_seq, expected_prev, sealed_to = start, anchor, start - 1
    firsts = {first: first_prev for first, first_prev, _ in seals.values()}
    for link in chain:
        where = f"record {link.seq}"
        if link.seq != expected_seq:
            reason = ("a record below the expiry anchor" if link.seq < start else
                      f"expected position {expected_seq}: records missing, inserted or reordered")
            raise _Broken(where, reason)
        if link.prev_hash != expected_prev:
            raise _Broken(where, "previous-hash does not match the previous record")
        if link.seq in firsts and firsts[link.seq] != link.prev_hash:
            raise _Broken(where, "segment start does not match its checkpoint")
        if link_hash(partition, link.seq, link.prev_hash, link.body) != link.record_hash:
            raise _Broken(where, "content does not match its hash (edited)")
        if decode is not None:
            _columns(link, decode)
        if link.seq in seals:
            if seals[link.seq][2] != link.record_hash:
                raise _Broken(where, "hash differs from the sealed checkpoint")
            sealed_to = link.seq
        expected_seq, expected_prev = link.seq + 1, link.record_hash
    last_sealed = max(seals, default=start - 1)
    if last_sealed > sealed_to:
        raise _Broken(f"record {expected_seq}", f"sealed through {last_sealed} but the log ends at "
                      f"{expected_seq - 1} (truncated)")
    return sealed_to


def _columns(link: Link, decode: Decode) -> None:
    """The query columns must say what the body says (a disclosures query reads them)."""
    try:
        event = decode(link.body)
    except Exception as e:  # the body is not an audit record at all
        raise _Broken(f"record {link.seq}", f"body does not decode ({type(e).__name__})") from None
    person = event.person.person_token if event.person else None
    if (event.audit_id, event.kind.value, person, event.referral_id or None, event.recorded_at.isoformat()) != \
            (link.audit_id, link.kind, link.person_token, link.referral_id, link.recorded_at):
        raise _Broken(f"record {link.seq}", "indexed columns disagree with the body")
