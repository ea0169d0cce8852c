"""The sink on SQLite and PostgreSQL: chained appends, replays, seals, exports, triggers, expiry."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pipeline.audit.chain import GENESIS, link_hash
from pipeline.audit.sink import audit_codec as codec
from pipeline.audit.signing import Verifier
from pipeline.audit.sink import (Sealer, expire, export_checkpoints, load_checkpoints, load_links, read_exported,
                                 store_audit)
from pipeline.audit.verify import verify
from pipeline.storage import StorageError

from .logs import SIGNER, T0, events, fill

VERIFIER = Verifier.of([SIGNER.public_hex])


def check(store, exported=None):
    return verify(load_links(store), load_checkpoints(store), VERIFIER, exported, codec().decode)


def test_each_partition_is_one_chain_and_a_replay_adds_no_link(migrated) -> None:
    items = events(9)
    fill(migrated, items, partitions=3)
    replayed = [store_audit(migrated, e, codec().encode(e), 2, 99) for e in items[:4]]
    assert replayed == [False] * 4
    links = list(load_links(migrated))
    assert len(links) == 9
    for partition in range(3):
        chain = [l for l in links if l.partition == partition]
        assert [l.seq for l in chain] == [0, 1, 2]
        assert chain[0].prev_hash == GENESIS
        assert [l.prev_hash for l in chain[1:]] == [l.record_hash for l in chain[:-1]]
        assert all(l.record_hash == link_hash(partition, l.seq, l.prev_hash, l.body) for l in chain)
    assert check(migrated).ok


def test_full_segments_are_sealed_signed_and_exported(migrated, tmp_path) -> None:
    export = tmp_path / "officer" / "checkpoints.jsonl"
    sealer = Sealer(SIGNER, segment_size=4, export_path=export)
    fill(migrated, events(19), partitions=2)  # 10 and 9 records
    made = sealer.seal(migrated, T0)
    assert [(c.partition, c.fields["first_seq"], c.fields["last_seq"]) for c in made] == \
        [(0, 0, 3), (0, 4, 7), (1, 0, 3), (1, 4, 7)]
    assert sealer.seal(migrated, T0) == []  # nothing new is full
    report = check(migrated, read_exported(export))
    assert report.ok and report.sealed == 16
    assert [w.split(" records")[0] for w in report.warnings] == ["partition 0: 2", "partition 1: 1"]
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [(d["partition"], d["number"]) for d in lines] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert export_checkpoints(migrated, export) == 0  # idempotent: only ever appended to
    forced = sealer.seal(migrated, T0, force=True)
    assert [(c.fields["first_seq"], c.fields["last_seq"]) for c in forced] == [(8, 9), (8, 8)]
    assert check(migrated, read_exported(export)).sealed == 19


def test_the_tables_are_append_only(migrated) -> None:
    fill(migrated, events(4))
    Sealer(SIGNER, 2).seal(migrated, T0)
    for statement in ("UPDATE audit_record SET person_token = 'x'", "DELETE FROM audit_record",
                      "UPDATE audit_checkpoint SET signature = 'x'", "DELETE FROM audit_checkpoint"):
        with pytest.raises(StorageError):
            with migrated.transaction() as tx:
                tx.execute(statement)
    assert len(list(load_links(migrated))) == 4 and len(load_checkpoints(migrated)) == 2


def test_expiry_removes_whole_sealed_segments_under_a_signed_checkpoint(migrated, tmp_path) -> None:
    export = tmp_path / "checkpoints.jsonl"
    items = events(25, step=timedelta(days=30))  # one partition, a record a month
    fill(migrated, items, partitions=1)
    Sealer(SIGNER, 10, export).seal(migrated, T0)  # segments 0-9 and 10-19; 20-24 open
    cutoff = items[14].recorded_at  # segment 0-9 is wholly older; 10-19 is not
    [cp] = expire(migrated, SIGNER, cutoff, T0 + timedelta(days=900), export)
    assert cp.fields["through_seq"] == 9 and cp.fields["removed"] == 10
    links = list(load_links(migrated))
    assert [l.seq for l in links] == list(range(10, 25))
    assert check(migrated, read_exported(export)).ok
    # the open tail never expires, whatever its age; a second run with nothing old enough does nothing
    assert expire(migrated, SIGNER, items[-1].recorded_at + timedelta(days=1), T0, export)[0].fields["removed"] == 10
    assert [l.seq for l in load_links(migrated)] == list(range(20, 25))
    assert expire(migrated, SIGNER, T0 + timedelta(days=10_000), T0, export) == []
    # appends go on from the chain's end, and a single record still cannot be deleted
    extra = events(1, seed=99)[0]
    store_audit(migrated, extra, codec().encode(extra), 0, 1000)
    with pytest.raises(StorageError):
        with migrated.transaction() as tx:
            tx.execute("DELETE FROM audit_record WHERE chain_seq = 21")
    assert check(migrated, read_exported(export)).ok


def test_an_emptied_partition_continues_from_its_expiry_anchor(migrated) -> None:
    items = events(4)
    fill(migrated, items, partitions=1)
    Sealer(SIGNER, 4).seal(migrated, T0)
    expire(migrated, SIGNER, T0 + timedelta(days=365), T0 + timedelta(days=400))
    assert list(load_links(migrated)) == []
    extra = events(1, seed=5)[0]
    store_audit(migrated, extra, codec().encode(extra), 0, 7)
    [link] = list(load_links(migrated))
    assert link.seq == 4 and check(migrated).ok


def test_the_sink_stage_chains_dedupes_and_seals_as_segments_fill(migrated, tmp_path) -> None:
    import asyncio
    from dataclasses import MISSING, fields

    from pipeline import records as r
    from pipeline.app import Deps, sink_audit
    from pipeline.clock import FixedClock
    from pipeline.stage import Context
    from pipeline.topics import Catalogue

    export = tmp_path / "checkpoints.jsonl"
    unused = {f.name: None for f in fields(Deps) if f.default is MISSING and f.default_factory is MISSING}
    deps = Deps(**{**unused, "catalogue": Catalogue("unit"), "store": migrated, "clock": FixedClock(T0),
                   "audit_sealer": Sealer(SIGNER, 3, export)})  # the sink stage needs only these
    items = events(7)
    for offset, event in enumerate(items + items[:2]):  # the last two are replays
        ctx = Context("audit-sink", r.SourceRef(topic="audit", record_id=event.audit_id), deps.clock, "", 0, offset)
        asyncio.run(sink_audit(deps, event, ctx))
    assert [l.seq for l in load_links(migrated)] == list(range(7))
    assert [(c.fields["first_seq"], c.fields["last_seq"]) for c in read_exported(export)] == [(0, 2), (3, 5)]
    assert check(migrated, read_exported(export)).ok
