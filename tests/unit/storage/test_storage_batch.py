"""`store.batch()`: a stage's batch of units of work in one transaction (issue 14). Each
`transaction()` inside it is a savepoint: a unit that raises is undone alone, the others commit
together at the batch's end, and nothing is visible to another connection before then."""
from __future__ import annotations

import random
import threading

import pytest

from pipeline.storage import IntegrityError, Store

from .test_storage_store import INSERT_AUDIT, audit_row, count


def _unit(store: Store, row: dict, fail: bool = False) -> None:
    with store.transaction(immediate=True) as tx:
        tx.execute(INSERT_AUDIT, row)
        if fail:
            raise ValueError("this unit fails after its write")


def test_a_failing_unit_is_undone_alone_and_the_batch_commits_once(migrated: Store) -> None:
    rng = random.Random(14)
    rows = [audit_row(rng, n) for n in range(6)]
    seen_inside: list[int] = []
    with migrated.batch():
        for n, row in enumerate(rows):
            try:
                _unit(migrated, row, fail=n in (1, 4))
            except ValueError:
                pass
        # another thread (its own connection) sees nothing before the batch commits
        reader = threading.Thread(target=lambda: seen_inside.append(_count_uncommitted(migrated)))
        reader.start()
        reader.join()
    assert seen_inside == [0]
    with migrated.transaction() as tx:
        stored = {r["audit_id"] for r in tx.fetchall("SELECT audit_id FROM audit_record")}
    assert stored == {rows[n]["audit_id"] for n in (0, 2, 3, 5)}


def _count_uncommitted(store: Store) -> int:
    if store.dialect == "sqlite":  # the batch holds SQLite's one writer turn: read with a connection of our own
        import sqlite3
        conn = sqlite3.connect(store._backend.path)
        try:
            return conn.execute("SELECT count(*) FROM audit_record").fetchone()[0]
        finally:
            conn.close()
    return count(store, "audit_record")


def test_an_error_out_of_the_batch_undoes_every_unit(migrated: Store) -> None:
    rng = random.Random(15)
    row = audit_row(rng, 1)
    with pytest.raises(IntegrityError):
        with migrated.batch() as tx:
            _unit(migrated, row)
            tx.execute(INSERT_AUDIT.split(" ON CONFLICT")[0], row)  # the same id again: refused
    assert count(migrated, "audit_record") == 0


def test_units_in_a_batch_see_each_others_writes(migrated: Store) -> None:
    rng = random.Random(16)
    row = audit_row(rng, 7)
    with migrated.batch():
        _unit(migrated, row)
        with migrated.transaction() as tx:
            assert tx.fetchone("SELECT audit_id FROM audit_record WHERE audit_id = :a", {"a": row["audit_id"]})
            assert tx.execute(INSERT_AUDIT, row) == 0  # the replay of a unit's write is a no-op
