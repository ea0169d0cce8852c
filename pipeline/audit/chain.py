"""The hash chain and its checkpoints: pure functions over plain rows (no storage here).

One chain per audit-topic partition (partition -1: the direct chain, records written
without the broker). A link's hash covers the partition, its position, the previous
link's hash and the record's canonical bytes (its Avro body):

    hash[n] = sha256("handoff-audit/1" | partition | n | hash[n-1] | body[n]),  hash[-1] = GENESIS

A seal checkpoint signs (first, last, hash of last) of a run of links; an expire
checkpoint signs the removal of every link up to the end of a sealed segment and keeps
that segment's last hash as the anchor the remaining chain hangs from. The checkpoints
of a partition form their own chain (`prev` = hash of the previous statement), so one
cannot be dropped or swapped unnoticed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
SEAL, EXPIRE = "seal", "expire"


def link_hash(partition: int, seq: int, prev_hash: str, body: bytes) -> str:
    h = hashlib.sha256(b"handoff-audit/1")
    h.update(partition.to_bytes(4, "big", signed=True))
    h.update(seq.to_bytes(8, "big"))
    h.update(bytes.fromhex(prev_hash))
    h.update(body)
    return h.hexdigest()


def canonical(statement: dict[str, Any]) -> str:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def statement_hash(statement: str) -> str:
    return hashlib.sha256(statement.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    """One stored audit record, as the verifier sees it."""

    partition: int
    seq: int
    audit_id: str
    prev_hash: str
    record_hash: str
    body: bytes
    kind: str = ""
    person_token: str | None = None
    referral_id: str | None = None
    recorded_at: str = ""


@dataclass(frozen=True)
class Checkpoint:
    partition: int
    number: int
    kind: str
    statement: str  # canonical JSON, what was signed
    signature: str

    @property
    def fields(self) -> dict[str, Any]:
        return json.loads(self.statement)

    @property
    def hash(self) -> str:
        return statement_hash(self.statement)

    def as_json(self) -> dict[str, Any]:
        return {"partition": self.partition, "number": self.number, "kind": self.kind,
                "statement": self.statement, "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Checkpoint":
        return cls(int(data["partition"]), int(data["number"]), str(data["kind"]), str(data["statement"]),
                   str(data["signature"]))


@dataclass(frozen=True)
class Break:
    partition: int
    where: str  # "record 17", "checkpoint 3", ...
    reason: str

    def __str__(self) -> str:
        return f"partition {self.partition}, {self.where}: {self.reason}"


@dataclass
class Report:
    records: int = 0
    partitions: int = 0
    checkpoints: int = 0
    sealed: int = 0  # records under a seal checkpoint
    breaks: list[Break] = field(default_factory=list)  # the first break of each broken partition
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None
