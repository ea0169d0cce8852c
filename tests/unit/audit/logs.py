"""Synthetic audit logs for the audit tests: fixed seeds, tokens not names, every kind."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from pipeline import records as r
from pipeline.audit.chain import Checkpoint, Link
from pipeline.audit.sink import audit_codec as codec
from pipeline.audit.signing import Signer
from pipeline.audit.sink import Sealer, load_checkpoints, load_links, store_audit
from pipeline.vocab import AuditKind, Basis, Purpose, Variant

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
SIGNER = Signer.from_secret("audit-test-signing-key-0123456789")


def events(count: int, seed: int = 7, start: datetime = T0, step: timedelta = timedelta(minutes=7)
           ) -> list[r.AuditEvent]:
    rng = random.Random(seed)
    kinds = list(AuditKind)
    out = []
    for i in range(count):
        kind = rng.choice(kinds)
        person = r.PersonKey(person_token=f"{rng.getrandbits(128):032x}", key_version=rng.choice([1, 2]))
        disclosed = kind in (AuditKind.DELIVERY_RESULT, AuditKind.DELIVERY_ATTEMPT, AuditKind.DECISION)
        out.append(r.AuditEvent(
            audit_id=f"{seed:04d}-{i:06d}", kind=kind, stage="test", recorded_at=start + i * step,
            outcome=rng.choice(["success", "delivered", "failure", "hold"]),
            actor=rng.choice(["stage:refer", "connector:inbox", "user:officer-7"]),
            person=person if kind != AuditKind.DEAD_LETTER else None,
            referral_id=f"ref-{rng.randrange(10**6)}" if disclosed else "",
            recipient_id=rng.choice(["prov-a", "prov-b"]) if disclosed else "",
            purpose=rng.choice(list(Purpose)) if disclosed else None,
            basis=rng.choice(list(Basis)) if disclosed else None,
            variant=rng.choice(list(Variant)) if disclosed else None,
            detail={"n": str(i)}))
    return out


def fill(store, items: list[r.AuditEvent], partitions: int = 2) -> None:
    encode = codec().encode
    for i, event in enumerate(items):
        store_audit(store, event, encode(event), i % partitions, i)


def sealed_log(store, count: int = 60, segment: int = 10, seed: int = 7) -> tuple[list[Link], list[Checkpoint]]:
    """A fully sealed log in `store`; returns its links and checkpoints as stored."""
    fill(store, events(count, seed))
    Sealer(SIGNER, segment).seal(store, T0 + timedelta(days=1), force=True)
    return list(load_links(store)), load_checkpoints(store)
