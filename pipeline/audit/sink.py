"""The audit sink: audit records from the `audit` topic into append-only storage.

Deduplicates by audit id (a replayed message repeats its ids). The audit issue adds the
per-partition hash chain, sealed segments and signed checkpoints on this table.
"""
from __future__ import annotations

from pipeline import records as r
from pipeline.storage import Store


def store_audit(store: Store, event: r.AuditEvent, body: bytes, partition: int, offset: int) -> bool:
    """Append one audit record; False when it was already there (a replay)."""
    with store.transaction() as tx:
        inserted = tx.execute(
            "INSERT INTO audit_record (audit_id, kafka_partition, kafka_offset, kind, recorded_at, person_token,"
            " referral_id, body) VALUES (:audit_id, :partition, :offset, :kind, :recorded_at, :person_token,"
            " :referral_id, :body) ON CONFLICT (audit_id) DO NOTHING",
            {"audit_id": event.audit_id, "partition": partition, "offset": offset, "kind": event.kind.value,
             "recorded_at": event.recorded_at.isoformat(),
             "person_token": event.person.person_token if event.person else None,
             "referral_id": event.referral_id or None, "body": body})
    return inserted == 1
