"""Transactions, placeholders, errors and concurrency, on SQLite and PostgreSQL."""
from __future__ import annotations

import random
from pathlib import Path

import psycopg
import pytest

from pipeline.storage import (IntegrityError, Store, StorageError, StorageUnavailable, open_store)

from .threads import run_concurrently

INSERT_AUDIT = ("INSERT INTO audit_record (audit_id, kafka_partition, kafka_offset, kind, recorded_at, body) "
                "VALUES (:audit_id, :partition, :offset, :kind, :recorded_at, :body) "
                "ON CONFLICT (audit_id) DO NOTHING")


def audit_row(rng: random.Random, n: int) -> dict[str, object]:
    return {"audit_id": f"aud-{n:06d}-{rng.getrandbits(32):08x}", "partition": n % 3, "offset": n,
            "kind": rng.choice(["decision", "delivery", "view"]),
            "recorded_at": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
            "body": rng.randbytes(rng.randint(0, 64))}


def count(store: Store, table: str) -> int:
    with store.transaction() as tx:
        return tx.fetchone(f"SELECT count(*) AS n FROM {table}")["n"]


def test_dialect_names_the_backend(store: Store, url: str) -> None:
    assert store.dialect == ("sqlite" if url.startswith("sqlite") else "postgresql")


def test_sqlite_creates_the_parent_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "h.db"
    with open_store(f"sqlite:///{path}") as store:
        with store.transaction() as tx:
            assert tx.fetchone("PRAGMA journal_mode")["journal_mode"] == "wal"
            assert tx.fetchone("PRAGMA foreign_keys")["foreign_keys"] == 1
    assert path.is_file()


def test_commit_on_exit_rollback_on_exception(migrated: Store) -> None:
    rng = random.Random(1)
    kept, dropped = audit_row(rng, 1), audit_row(rng, 2)
    with migrated.transaction() as tx:
        assert tx.execute(INSERT_AUDIT, kept) == 1
    with pytest.raises(RuntimeError, match="stage failed"):
        with migrated.transaction() as tx:
            tx.execute(INSERT_AUDIT, dropped)
            raise RuntimeError("stage failed")
    with migrated.transaction() as tx:
        rows = tx.fetchall("SELECT audit_id, body FROM audit_record ORDER BY audit_id")
    assert rows == [{"audit_id": kept["audit_id"], "body": kept["body"]}]


def test_rows_are_dicts_and_fetchone_of_nothing_is_none(migrated: Store) -> None:
    rows = [audit_row(random.Random(2), n) for n in range(5)]
    with migrated.transaction() as tx:
        assert tx.executemany(INSERT_AUDIT, rows) == 5
        got = tx.fetchall("SELECT audit_id, kafka_partition, kafka_offset, kind, body FROM audit_record "
                          "WHERE kafka_offset >= :low ORDER BY kafka_offset", {"low": 2})
        assert tx.fetchone("SELECT kind FROM audit_record WHERE audit_id = :id", {"id": "absent"}) is None
    assert got == [{"audit_id": r["audit_id"], "kafka_partition": r["partition"], "kafka_offset": r["offset"],
                    "kind": r["kind"], "body": r["body"]} for r in rows[2:]]


def test_placeholders_leave_strings_and_percent_alone(store: Store) -> None:
    with store.transaction() as tx:
        row = tx.fetchone("SELECT :a AS a, ':x' AS lit, 'it''s :y' AS quoted, '50%' AS pct, :a || ':z' AS joined",
                          {"a": "v"})
    assert row == {"a": "v", "lit": ":x", "quoted": "it's :y", "pct": "50%", "joined": "v:z"}


def test_cast_with_double_colon_on_postgresql(pg_url: str) -> None:
    with open_store(pg_url) as store, store.transaction() as tx:
        row = tx.fetchone("SELECT :n::text AS t, pg_typeof(:n::int)::text AS ty, '1'::int + :n AS s", {"n": 41})
    assert row == {"t": "41", "ty": "integer", "s": 42}


def test_same_audit_id_twice_is_a_no_op(migrated: Store) -> None:
    first = audit_row(random.Random(3), 7)
    replay = dict(first, kind="changed", body=b"other")
    with migrated.transaction() as tx:
        assert tx.execute(INSERT_AUDIT, first) == 1
    with migrated.transaction() as tx:
        assert tx.execute(INSERT_AUDIT, replay) == 0
        row = tx.fetchone("SELECT kind, body, inserted_at FROM audit_record WHERE audit_id = :audit_id", first)
    assert (row["kind"], row["body"]) == (first["kind"], first["body"])
    assert row["inserted_at"].endswith("Z") and row["inserted_at"][10] == "T"
    assert count(migrated, "audit_record") == 1


def test_constraint_violation_is_integrity_error_and_rolls_back(migrated: Store) -> None:
    item = {"d": "del-1", "r": "prov-1", "ref": "ref-1"}
    insert = "INSERT INTO inbox_item (delivery_id, recipient_id, referral_id) VALUES (:d, :r, :ref)"
    with migrated.transaction() as tx:
        tx.execute(insert, item)
    with pytest.raises(IntegrityError) as caught:
        with migrated.transaction() as tx:
            tx.execute(insert, dict(item, d="del-2"))
            tx.execute(insert, item)
    assert not caught.value.transient
    with pytest.raises(IntegrityError):
        with migrated.transaction() as tx:
            tx.execute(insert, dict(item, d="del-3", r=None))
    with migrated.transaction() as tx:
        assert [r["delivery_id"] for r in tx.fetchall("SELECT delivery_id FROM inbox_item")] == ["del-1"]


def test_bad_sql_and_missing_parameter_are_permanent_storage_errors(store: Store) -> None:
    for sql, params in [("SELEC 1", None), ("SELECT :absent AS a", {}), ("SELECT x FROM no_such_table", None)]:
        with pytest.raises(StorageError) as caught:
            with store.transaction() as tx:
                tx.fetchone(sql, params)
        assert type(caught.value) is StorageError and not caught.value.transient
    with store.transaction() as tx:  # the pool still works afterwards
        assert tx.fetchone("SELECT 1 AS one") == {"one": 1}


def test_transactions_do_not_nest_and_end_with_their_block(store: Store) -> None:
    with store.transaction() as outer:
        with pytest.raises(StorageError, match="nest"):
            with store.transaction():
                pass
    with pytest.raises(StorageError, match="finished"):
        outer.fetchone("SELECT 1 AS one")


def test_concurrent_writers_all_land(migrated: Store) -> None:
    threads, per_thread = 4, 200

    def write(k: int) -> None:
        rng = random.Random(k)
        for n in range(per_thread):
            with migrated.transaction() as tx:
                tx.execute(INSERT_AUDIT, audit_row(rng, k * per_thread + n))

    assert run_concurrently(write, [(k,) for k in range(threads)]) == []
    with migrated.transaction() as tx:
        offsets = [r["kafka_offset"] for r in tx.fetchall("SELECT kafka_offset FROM audit_record ORDER BY 1")]
    assert offsets == list(range(threads * per_thread))


def test_immediate_transactions_make_read_modify_write_safe(migrated: Store) -> None:
    with migrated.transaction() as tx:
        tx.execute("INSERT INTO referral_state (referral_id, state) VALUES ('ref-1', 'requested')")

    def bump() -> None:
        for _ in range(25):
            with migrated.transaction(immediate=True) as tx:
                seen = tx.fetchone("SELECT revision FROM referral_state WHERE referral_id = 'ref-1'")
                tx.execute("UPDATE referral_state SET revision = :r WHERE referral_id = 'ref-1'",
                           {"r": seen["revision"] + 1})

    assert run_concurrently(bump, [()] * 4) == []
    with migrated.transaction() as tx:
        assert tx.fetchone("SELECT revision FROM referral_state")["revision"] == 1 + 4 * 25


def test_unreachable_postgresql_is_unavailable(closed_port: int) -> None:
    with pytest.raises(StorageUnavailable) as caught:
        open_store(f"postgresql://handoff:secret-pw@127.0.0.1:{closed_port}/handoff", timeout=2)
    assert caught.value.transient
    assert "secret-pw" not in str(caught.value)


def test_sqlite_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageUnavailable):
        open_store(f"sqlite:///{blocker}/sub/handoff.db")


def test_lost_postgresql_connection_is_unavailable_then_recovers(pg_url: str) -> None:
    with open_store(pg_url, max_connections=1) as store:
        with store.transaction() as tx:
            pid = tx.fetchone("SELECT pg_backend_pid() AS pid")["pid"]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StorageUnavailable):
            with store.transaction() as tx:
                tx.fetchone("SELECT 1 AS one")
        with store.transaction() as tx:
            assert tx.fetchone("SELECT pg_backend_pid() AS pid")["pid"] != pid


def test_closed_store_refuses_transactions(store: Store) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"):
        with store.transaction():
            pass
