"""Migrations: applied once, in order, recorded with checksums, safe to run concurrently."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.storage import MigrationError, Store, StorageError, open_store
from pipeline.storage.migrate import DIRECTORY, load

from .threads import run_concurrently

BASE_TABLES = {"audit_record", "inbox_item", "referral_state", "schema_migrations"}


def tables(store: Store) -> set[str]:
    sql = ("SELECT name FROM sqlite_master WHERE type = 'table'" if store.dialect == "sqlite" else
           "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()")
    with store.transaction() as tx:
        return {r["name"] for r in tx.fetchall(sql)}


def recorded(store: Store) -> list[dict[str, object]]:
    with store.transaction() as tx:
        return tx.fetchall("SELECT version, name, checksum FROM schema_migrations ORDER BY version")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The base migration alone (later issues add their own to DIRECTORY)."""
    copy = tmp_path / "migrations"
    copy.mkdir()
    for path in DIRECTORY.glob("0001_*.sql"):
        shutil.copy(path, copy / path.name)
    return copy


def test_base_migration_applies_once(store: Store, folder: Path) -> None:
    assert store.migrate(folder) == [1]
    assert store.migrate(folder) == []
    assert BASE_TABLES <= tables(store)
    [row] = recorded(store)
    assert (row["version"], row["name"]) == (1, "base")
    assert row["checksum"] == load(store.dialect)[0].checksum
    [state] = store.status(folder)
    assert state.applied_at and state.applied_at.endswith("Z") and state.checksum_ok and state.known


def test_every_shipped_migration_applies_once(store: Store) -> None:
    shipped = [m.version for m in load(store.dialect)]
    assert store.migrate() == shipped and store.migrate() == []
    assert [r["version"] for r in recorded(store)] == shipped


def test_status_before_migrating_lists_pending(store: Store, folder: Path) -> None:
    assert [(s.version, s.applied_at, s.checksum_ok) for s in store.status(folder)] == [(1, None, None)]
    assert "schema_migrations" not in tables(store)


def test_changed_applied_migration_is_refused(store: Store, folder: Path) -> None:
    store.migrate(folder)
    applied_file = folder / load(store.dialect, folder)[0].filename
    applied_file.write_text(applied_file.read_text() + "\n-- edited after the fact\n")
    (folder / "0002_more.sql").write_text("CREATE TABLE more_things (id TEXT PRIMARY KEY);\n")
    with pytest.raises(MigrationError, match=applied_file.name):
        store.migrate(folder)
    assert "more_things" not in tables(store)
    assert [s.checksum_ok for s in store.status(folder)] == [False, None]


def test_new_migration_is_applied_after_the_old_ones(store: Store, folder: Path) -> None:
    assert store.migrate(folder) == [1]
    (folder / "0003_third.sql").write_text("ALTER TABLE second ADD COLUMN note TEXT;\n")
    (folder / "0002_second.sql").write_text(
        "-- portable; a ';' in a comment\nCREATE TABLE second (id TEXT PRIMARY KEY, label TEXT DEFAULT 'a;b');\n"
        "CREATE INDEX second_label ON second (label);\n")
    assert store.migrate(folder) == [2, 3]
    with store.transaction() as tx:
        tx.execute("INSERT INTO second (id, note) VALUES ('x', 'y')")
        assert tx.fetchone("SELECT label, note FROM second") == {"label": "a;b", "note": "y"}
    assert [r["version"] for r in recorded(store)] == [1, 2, 3]


def test_dialect_variant_replaces_the_portable_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "0001_kinds.sql").write_text("CREATE TABLE portable (x TEXT);\n")
    (tmp_path / "0001_kinds.sqlite.sql").write_text("CREATE TABLE only_sqlite (x BLOB);\n")
    (tmp_path / "0001_kinds.postgresql.sql").write_text("CREATE TABLE only_postgresql (x BYTEA);\n")
    store.migrate(tmp_path)
    assert tables(store) - {"schema_migrations"} == {f"only_{store.dialect}"}


def test_failing_migration_leaves_nothing_behind(store: Store, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (x TEXT);\n")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (x TEXT);\nCREATE TABLE ok (x TEXT);\n")
    with pytest.raises(StorageError):
        store.migrate(tmp_path)
    assert tables(store) == {"ok", "schema_migrations"}
    assert [r["version"] for r in recorded(store)] == [1]


@pytest.mark.parametrize("files, message", [
    ({"0001_a.sql": "", "0001_b.sql": ""}, "two names"),
    ({"1_short.sql": ""}, "not a migration name"),
    ({"0001_only.postgresql.sql": "", "0001_only.sqlite.txt": ""}, None),
])
def test_malformed_migration_folders_are_refused(tmp_path: Path, files: dict[str, str],
                                                 message: str | None) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(MigrationError, match=message or "no portable file and no sqlite variant"):
        load("sqlite", tmp_path)


def test_concurrent_migrations_apply_each_version_once(url: str, folder: Path) -> None:
    for v in range(2, 7):
        (folder / f"000{v}_step.sql").write_text(f"CREATE TABLE step_{v} (id INTEGER PRIMARY KEY);\n")
    stores = [open_store(url) for _ in range(4)]  # four stores: four connections, as four processes would
    applied: list[int] = []
    try:
        assert run_concurrently(lambda store: applied.extend(store.migrate(folder)), [(s,) for s in stores]) == []
        assert sorted(applied) == [1, 2, 3, 4, 5, 6]
        assert [r["version"] for r in recorded(stores[0])] == [1, 2, 3, 4, 5, 6]
    finally:
        for s in stores:
            s.close()
