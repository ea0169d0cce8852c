"""The audit sink: audit records into append-only storage, chained, sealed, expired.

    store_audit(store, event, body, partition, offset)   # append one link; False on a replay
    Sealer(signer, segment_size, export_path).seal(store)   # sign full segments, export checkpoints
    expire(store, signer, cutoff, export_path)             # remove whole sealed segments, signed

Appending runs in one write-locked transaction: a replayed audit id adds no link; else
the record takes the next position of its partition's chain. Triggers (migration 0002)
refuse any UPDATE and any DELETE not covered by a signed expiry.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from pipeline import records as r
from pipeline.audit.chain import EXPIRE, GENESIS, SEAL, Checkpoint, Link, canonical, link_hash
from pipeline.audit.signing import Signer
from pipeline.avro import Codec, Registry
from pipeline.storage import Store, Transaction
from pipeline.topics import SCHEMA_DIR

DIRECT = -1  # the chain of records written without the broker (command-line views)


@lru_cache(maxsize=1)
def audit_codec() -> Codec[r.AuditEvent]:
    """The Avro codec of the `audit` topic's values: a stored body is exactly these bytes."""
    return Registry(SCHEMA_DIR).codec(r.AuditEvent)


def record_direct(store: Store, event: r.AuditEvent) -> bool:
    """Append a record written without the broker (a view from the command line or a UI
    that has no producer) to the direct chain, before the data it records is shown."""
    return store_audit(store, event, audit_codec().encode(event), DIRECT, None)


def store_audit(store: Store, event: r.AuditEvent, body: bytes, partition: int, offset: int | None) -> bool:
    """Append one audit record to its partition's chain; False when it was already there (a replay)."""
    return store_audits(store, [(event, body, partition, offset)])[0]


def store_audits(store: Store, batch: Sequence[tuple[r.AuditEvent, bytes, int, int | None]]) -> list[bool]:
    """Append a batch of audit records (event, body, partition, offset), in order, in one
    transaction; per record, False when it was already there (a replay). The batch's ids are
    looked up at once, each chain's head is read once, and the new links are inserted at once:
    a few statements per batch, not three per record (a round trip each on PostgreSQL)."""
    with store.transaction(immediate=True) as tx:
        chains = _Chains(tx, [event.audit_id for event, *_ in batch])
        appended = [chains.append(event, body, partition, offset) for event, body, partition, offset in batch]
        chains.insert()
        return appended


class _Chains:
    """One transaction's appends: the ids already stored, each chain's head as the batch moves it,
    and the rows to insert."""

    LOOKUP = 500  # ids per lookup statement

    def __init__(self, tx: Transaction, audit_ids: Sequence[str]) -> None:
        self.tx = tx
        self.stored: set[str] = set()
        ids = list(dict.fromkeys(audit_ids))
        for i in range(0, len(ids), self.LOOKUP):
            part = ids[i:i + self.LOOKUP]
            names = {f"id{n}": audit_id for n, audit_id in enumerate(part)}
            rows = tx.fetchall(f"SELECT audit_id FROM audit_record WHERE audit_id IN "
                               f"({', '.join(':' + name for name in names)})", names)
            self.stored.update(row["audit_id"] for row in rows)
        self.heads: dict[int, dict] = {}
        self.rows: list[dict] = []

    def head(self, partition: int) -> dict:
        if partition not in self.heads:
            head = self.tx.fetchone("SELECT chain_seq, record_hash FROM audit_record WHERE kafka_partition = :p"
                                    " AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1", {"p": partition})
            self.heads[partition] = head if head is not None else _anchor(self.tx, partition)
        return self.heads[partition]

    def append(self, event: r.AuditEvent, body: bytes, partition: int, offset: int | None) -> bool:
        """Link one record onto its partition's chain (inserted with the batch); False when already stored."""
        if event.audit_id in self.stored:
            return False
        head = self.head(partition)
        seq = head["chain_seq"] + 1
        digest = link_hash(partition, seq, head["record_hash"], body)
        self.rows.append(
            {"audit_id": event.audit_id, "partition": partition, "offset": offset, "kind": event.kind.value,
             "recorded_at": event.recorded_at.isoformat(),
             "person_token": event.person.person_token if event.person else None,
             "referral_id": event.referral_id or None, "body": body, "seq": seq,
             "prev": head["record_hash"], "hash": digest})
        self.heads[partition] = {"chain_seq": seq, "record_hash": digest}
        self.stored.add(event.audit_id)
        return True

    def insert(self) -> None:
        if self.rows:
            self.tx.executemany(
                "INSERT INTO audit_record (audit_id, kafka_partition, kafka_offset, kind, recorded_at, person_token,"
                " referral_id, body, chain_seq, prev_hash, record_hash) VALUES (:audit_id, :partition, :offset, :kind,"
                " :recorded_at, :person_token, :referral_id, :body, :seq, :prev, :hash)", self.rows)


def _anchor(tx: Transaction, partition: int) -> dict:
    """The head of an empty chain: genesis, or the anchor of its latest expiry."""
    row = tx.fetchone("SELECT statement FROM audit_checkpoint WHERE kafka_partition = :p AND kind = 'expire'"
                      " ORDER BY number DESC LIMIT 1", {"p": partition})
    if row is None:
        return {"chain_seq": -1, "record_hash": GENESIS}
    s = json.loads(row["statement"])
    return {"chain_seq": s["through_seq"], "record_hash": s["anchor_hash"]}


@dataclass(frozen=True)
class Sealer:
    """Seals each partition's chain into segments of `segment_size` records and exports
    every new checkpoint to `export_path` (the file the privacy officer keeps)."""

    signer: Signer
    segment_size: int = 1000
    export_path: Path | None = None
    _appended: dict = field(default_factory=dict, compare=False, repr=False)  # partition -> since last check

    def appended(self, store: Store, now: datetime, partition: int) -> list[Checkpoint]:
        """The sink appended a record: look for a full segment only every `segment_size` appends
        (and at the first after a start), not on every record."""
        count = self._appended.get(partition, self.segment_size - 1) + 1
        if count < self.segment_size:
            self._appended[partition] = count
            return []
        self._appended[partition] = 0
        return self.seal(store, now, partitions=[partition])

    @classmethod
    def from_settings(cls, settings) -> "Sealer":
        """The sealer `handoff run` gives the audit sink (pipeline/settings.py: security, audit)."""
        return cls(Signer.from_secret(settings.security.audit_signing_key), settings.audit.segment_size,
                   settings.audit.checkpoint_export)

    def seal(self, store: Store, now: datetime, force: bool = False,
             partitions: list[int] | None = None) -> list[Checkpoint]:
        """Seal every full segment (of `partitions`, default all); with `force`, also each non-empty open tail."""
        made = []
        with store.transaction(immediate=True) as tx:
            parts = partitions if partitions is not None else [row["p"] for row in tx.fetchall(
                "SELECT DISTINCT kafka_partition AS p FROM audit_record WHERE chain_seq IS NOT NULL")]
            for partition in parts:
                made += self._seal_partition(tx, partition, now, force)
        if made and self.export_path is not None:
            export_checkpoints(store, self.export_path)
        return made

    def _seal_partition(self, tx: Transaction, partition: int, now: datetime, force: bool) -> list[Checkpoint]:
        made = []
        while True:
            last = _last_checkpoint(tx, partition)
            start = tx.fetchone("SELECT COALESCE(MAX(last_seq), -1) + 1 AS s FROM audit_checkpoint"
                                " WHERE kafka_partition = :p", {"p": partition})["s"]
            head = tx.fetchone("SELECT COALESCE(MAX(chain_seq), -1) AS h FROM audit_record WHERE kafka_partition = :p",
                               {"p": partition})["h"]
            if head < start or (head - start + 1 < self.segment_size and not force):
                return made
            rows = tx.fetchall("SELECT chain_seq, prev_hash, record_hash, recorded_at FROM audit_record"
                               " WHERE kafka_partition = :p AND chain_seq >= :s ORDER BY chain_seq LIMIT :n",
                               {"p": partition, "s": start, "n": self.segment_size})
            if not rows or (len(rows) < self.segment_size and not force):
                return made
            statement = {"type": SEAL, "partition": partition, "first_seq": rows[0]["chain_seq"],
                         "last_seq": rows[-1]["chain_seq"], "count": len(rows),
                         "first_prev_hash": rows[0]["prev_hash"], "last_hash": rows[-1]["record_hash"],
                         "first_recorded_at": min(_when(r) for r in rows).isoformat(),
                         "last_recorded_at": max(_when(r) for r in rows).isoformat()}
            made.append(_append_checkpoint(tx, self.signer, partition, last, statement, now))


def _when(row: dict) -> datetime:
    return datetime.fromisoformat(row["recorded_at"])


def expire(store: Store, signer: Signer, cutoff: datetime, now: datetime,
           export_path: Path | None = None) -> list[Checkpoint]:
    """Remove, oldest first, every whole sealed segment whose newest record is older than
    `cutoff`, under one signed expiry checkpoint per partition. Never a single record."""
    made = []
    with store.transaction(immediate=True) as tx:
        parts = [row["p"] for row in tx.fetchall("SELECT DISTINCT kafka_partition AS p FROM audit_checkpoint")]
        for partition in parts:
            marks = [_checkpoint(row) for row in tx.fetchall(
                "SELECT * FROM audit_checkpoint WHERE kafka_partition = :p ORDER BY number", {"p": partition})]
            done = max((c.fields["through_seq"] for c in marks if c.kind == EXPIRE), default=-1)
            through, removed = None, 0
            for cp in marks:  # oldest first; stop at the first segment still within retention
                s = cp.fields
                if cp.kind != SEAL or s["last_seq"] <= done:
                    continue
                if datetime.fromisoformat(s["last_recorded_at"]) >= cutoff:
                    break
                through, removed = s, removed + s["count"]
            if through is None:
                continue
            statement = {"type": EXPIRE, "partition": partition, "through_seq": through["last_seq"],
                         "anchor_hash": through["last_hash"], "removed": removed, "cutoff": cutoff.isoformat()}
            made.append(_append_checkpoint(tx, signer, partition, marks[-1], statement, now))
            tx.execute("DELETE FROM audit_record WHERE kafka_partition = :p AND chain_seq <= :s",
                       {"p": partition, "s": through["last_seq"]})
    if made and export_path is not None:
        export_checkpoints(store, export_path)
    return made


def _append_checkpoint(tx: Transaction, signer: Signer, partition: int, last: Checkpoint | None,
                       statement: dict, now: datetime) -> Checkpoint:
    number = 0 if last is None else last.number + 1
    statement = {**statement, "v": 1, "number": number, "prev": last.hash if last else GENESIS,
                 "at": now.isoformat(), "key_id": signer.key_id}
    text = canonical(statement)
    cp = Checkpoint(partition, number, statement["type"], text, signer.sign(text))
    tx.execute("INSERT INTO audit_checkpoint (kafka_partition, number, kind, first_seq, last_seq, statement,"
               " signature) VALUES (:p, :n, :k, :f, :l, :s, :sig)",
               {"p": partition, "n": number, "k": cp.kind, "f": statement.get("first_seq"),
                "l": statement.get("last_seq", statement.get("through_seq")), "s": text, "sig": cp.signature})
    return cp


def _last_checkpoint(tx: Transaction, partition: int) -> Checkpoint | None:
    row = tx.fetchone("SELECT * FROM audit_checkpoint WHERE kafka_partition = :p ORDER BY number DESC LIMIT 1",
                      {"p": partition})
    return _checkpoint(row) if row else None


def _checkpoint(row: dict) -> Checkpoint:
    return Checkpoint(row["kafka_partition"], row["number"], row["kind"], row["statement"], row["signature"])


def load_checkpoints(store: Store) -> list[Checkpoint]:
    with store.transaction() as tx:
        return [_checkpoint(row) for row in
                tx.fetchall("SELECT * FROM audit_checkpoint ORDER BY kafka_partition, number")]


def load_links(store: Store, batch: int = 5000):
    """Every chained record, partition by partition in chain order, read in batches."""
    last_part, last_seq = -2, -1
    while True:
        with store.transaction() as tx:
            rows = tx.fetchall(
                "SELECT audit_id, kafka_partition, chain_seq, prev_hash, record_hash, body, kind, person_token,"
                " referral_id, recorded_at FROM audit_record WHERE chain_seq IS NOT NULL AND"
                " (kafka_partition > :p OR (kafka_partition = :p AND chain_seq > :s))"
                " ORDER BY kafka_partition, chain_seq LIMIT :n", {"p": last_part, "s": last_seq, "n": batch})
        for row in rows:
            yield Link(row["kafka_partition"], row["chain_seq"], row["audit_id"], row["prev_hash"],
                       row["record_hash"], bytes(row["body"]), row["kind"], row["person_token"],
                       row["referral_id"], row["recorded_at"])
        if len(rows) < batch:
            return
        last_part, last_seq = rows[-1]["kafka_partition"], rows[-1]["chain_seq"]


def unchained(store: Store) -> int:
    """Records outside any chain (written before migration 0002)."""
    with store.transaction() as tx:
        return tx.fetchone("SELECT COUNT(*) AS n FROM audit_record WHERE chain_seq IS NULL")["n"]


def read_exported(path: Path) -> list[Checkpoint]:
    if not path.exists():
        return []
    return [Checkpoint.from_json(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def export_checkpoints(store: Store, path: Path) -> int:
    """Append to `path` every checkpoint not in it yet (one JSON line each); returns how many.
    The file is only ever appended to, and fsynced, so a copy taken earlier stays a prefix."""
    have = {(c.partition, c.number) for c in read_exported(path)}
    new = [c for c in load_checkpoints(store) if (c.partition, c.number) not in have]
    if not new:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for cp in new:
            f.write(json.dumps(cp.as_json(), sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return len(new)
