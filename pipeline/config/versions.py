"""The versioned store of configuration (tables config_version and config_proposal, migration 0013).

    seq = install(store, bundle, version, by="admin-1", at=now)   # the new version in force
    heads(store)                   # {kind: seq} of the versions in force (what workers poll)
    row = active(store, "routing")  # the installed row in force, or None (then the configured files)

Installing never edits a version: it adds the next `seq` of its kind; going back is installing
the old files again. A dry run's candidate waits as a proposal with its report until it is
applied (or a newer proposal of the same kind supersedes it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pipeline.config.bundle import Bundle
from pipeline.storage import Store


@dataclass(frozen=True)
class Installed:
    kind: str
    seq: int
    version: str
    digest: str
    bundle: Bundle
    installed_at: str
    installed_by: str


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    kind: str
    version: str
    digest: str
    bundle: Bundle
    base_version: str
    report: dict
    proposed_at: str
    proposed_by: str
    state: str
    applied_seq: int | None


def heads(store: Store) -> dict[str, int]:
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT kind, MAX(seq) AS seq FROM config_version GROUP BY kind")
    return {row["kind"]: int(row["seq"]) for row in rows}


def _installed(row: dict) -> Installed:
    return Installed(row["kind"], int(row["seq"]), row["version"], row["digest"],
                     Bundle.of(row["kind"], row["entry"], row["files"]), row["installed_at"], row["installed_by"])


def active(store: Store, kind: str) -> Installed | None:
    with store.transaction() as tx:
        row = tx.fetchone("SELECT * FROM config_version WHERE kind = :k ORDER BY seq DESC LIMIT 1", {"k": kind})
    return _installed(row) if row else None


def get(store: Store, kind: str, seq: int) -> Installed | None:
    with store.transaction() as tx:
        row = tx.fetchone("SELECT * FROM config_version WHERE kind = :k AND seq = :s", {"k": kind, "s": seq})
    return _installed(row) if row else None


def history(store: Store, limit: int = 50) -> list[Installed]:
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT * FROM config_version ORDER BY installed_at DESC, seq DESC LIMIT :n",
                           {"n": limit})
    return [_installed(row) for row in rows]


def install(store: Store, bundle: Bundle, version: str, by: str, at: datetime, proposal_id: str = "") -> int:
    """Add the bundle as its kind's next version; returns its seq. One transaction (the migration
    lock's kind on SQLite: BEGIN IMMEDIATE), so two installs never take the same seq."""
    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT MAX(seq) AS seq FROM config_version WHERE kind = :k", {"k": bundle.kind})
        seq = int(row["seq"] or 0) + 1
        tx.execute("INSERT INTO config_version (kind, seq, version, digest, entry, files, installed_at,"
                   " installed_by, proposal_id) VALUES (:kind, :seq, :version, :digest, :entry, :files, :at, :by,"
                   " :pid)", {"kind": bundle.kind, "seq": seq, "version": version, "digest": bundle.digest,
                              "entry": bundle.entry, "files": bundle.to_json(), "at": at.isoformat(), "by": by,
                              "pid": proposal_id or None})
        if proposal_id:
            tx.execute("UPDATE config_proposal SET state = 'applied', applied_seq = :seq WHERE proposal_id = :pid",
                       {"seq": seq, "pid": proposal_id})
    return seq


def propose(store: Store, bundle: Bundle, version: str, base_version: str, report: dict, by: str,
            at: datetime) -> str:
    """Keep a dry run's candidate and report for review; earlier open proposals of the kind are superseded."""
    pid = bundle.digest[:16]
    with store.transaction(immediate=True) as tx:
        tx.execute("UPDATE config_proposal SET state = 'superseded' WHERE kind = :k AND state = 'proposed'",
                   {"k": bundle.kind})
        tx.execute("DELETE FROM config_proposal WHERE proposal_id = :pid", {"pid": pid})
        tx.execute("INSERT INTO config_proposal (proposal_id, kind, version, digest, entry, files, base_version,"
                   " report, proposed_at, proposed_by, state) VALUES (:pid, :kind, :version, :digest, :entry, :files,"
                   " :base, :report, :at, :by, 'proposed')",
                   {"pid": pid, "kind": bundle.kind, "version": version, "digest": bundle.digest,
                    "entry": bundle.entry, "files": bundle.to_json(), "base": base_version,
                    "report": json.dumps(report, sort_keys=True), "at": at.isoformat(), "by": by})
    return pid


def _proposal(row: dict) -> Proposal:
    return Proposal(row["proposal_id"], row["kind"], row["version"], row["digest"],
                    Bundle.of(row["kind"], row["entry"], row["files"]), row["base_version"], json.loads(row["report"]),
                    row["proposed_at"], row["proposed_by"], row["state"], row["applied_seq"])


def proposals(store: Store, state: str | None = "proposed") -> list[Proposal]:
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT * FROM config_proposal" + (" WHERE state = :s" if state else "")
                           + " ORDER BY proposed_at DESC", {"s": state} if state else None)
    return [_proposal(row) for row in rows]


def proposal(store: Store, proposal_id: str) -> Proposal | None:
    with store.transaction() as tx:
        row = tx.fetchone("SELECT * FROM config_proposal WHERE proposal_id = :p", {"p": proposal_id})
    return _proposal(row) if row else None
