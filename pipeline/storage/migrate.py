"""Migrations: numbered SQL files applied in order, each in its own transaction.

Files in pipeline/storage/migrations/:  NNNN_<name>.sql (portable), or per dialect
NNNN_<name>.sqlite.sql / NNNN_<name>.postgresql.sql (a variant replaces the portable file
for its dialect). Each applied version is recorded in `schema_migrations` with the
SHA-256 of the exact text applied; if that text changes later, migrate() refuses. Add a
new migration instead of editing an applied one.

Concurrency: every migration transaction first takes the migration lock (SQLite: BEGIN
IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock per schema), then re-reads
`schema_migrations`, so two processes migrating at once apply each version exactly once.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ContextManager, Protocol

from .errors import MigrationError


class Transaction(Protocol):
    """What a migration needs of a transaction (store.Transaction is one)."""

    def execute(self, sql: str, params: Any = None) -> int: ...
    def fetchone(self, sql: str, params: Any = None) -> dict[str, Any] | None: ...
    def fetchall(self, sql: str, params: Any = None) -> list[dict[str, Any]]: ...
    def execute_script(self, script: str) -> None: ...


class Store(Protocol):
    """What a migration needs of a database (store.Store is one)."""

    dialect: str

    def transaction(self, immediate: bool = False) -> ContextManager[Transaction]: ...


DIRECTORY = Path(__file__).resolve().parent / "migrations"
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<dialect>sqlite|postgresql))?\.sql$")

_CREATE_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    filename: str
    sql: str
    checksum: str


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    applied_at: str | None      # None: pending
    checksum_ok: bool | None    # None: pending; False: the file changed after it was applied
    known: bool = True          # False: applied in the database but absent from this code


def load(dialect: str, directory: Path | None = None) -> list[Migration]:
    """The migrations for one dialect, in version order."""
    directory = directory or DIRECTORY
    found: dict[int, dict[str | None, Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: not a migration name (NNNN_name[.sqlite|.postgresql].sql)")
        version, name = int(m["version"]), m["name"]
        if names.setdefault(version, name) != name:
            raise MigrationError(f"version {version:04d} has two names: {names[version]}, {name}")
        found.setdefault(version, {})[m["dialect"]] = path
    plan = []
    for version in sorted(found):
        path = found[version].get(dialect) or found[version].get(None)
        if path is None:
            raise MigrationError(f"{version:04d}_{names[version]}: no portable file and no {dialect} variant")
        sql = path.read_text(encoding="utf-8")
        checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        plan.append(Migration(version, names[version], path.name, sql, checksum))
    return plan


def _lock(tx: Transaction, dialect: str) -> None:
    if dialect == "postgresql":  # SQLite: BEGIN IMMEDIATE already holds the write lock
        tx.execute("SELECT pg_advisory_xact_lock("
                   "hashtext('handoff.schema_migrations.' || coalesce(current_schema(), '')))")


def _applied(tx: Transaction) -> dict[int, dict[str, str]]:
    rows = tx.fetchall("SELECT version, name, checksum, applied_at FROM schema_migrations")
    return {r["version"]: r for r in rows}


def _verify(plan: list[Migration], applied: dict[int, dict[str, str]]) -> None:
    changed = [m for m in plan if m.version in applied and applied[m.version]["checksum"] != m.checksum]
    if changed:
        listing = ", ".join(m.filename for m in changed)
        raise MigrationError(f"applied migration changed since it was applied: {listing} "
                             "(restore the file and add a new migration instead)")


def migrate(store: Store, directory: Path | None = None) -> list[int]:
    plan = load(store.dialect, directory)
    with store.transaction(immediate=True) as tx:
        _lock(tx, store.dialect)
        tx.execute(_CREATE_TABLE)
        _verify(plan, _applied(tx))
    done = []
    for migration in plan:
        with store.transaction(immediate=True) as tx:
            _lock(tx, store.dialect)
            applied = _applied(tx)
            _verify([migration], applied)
            if migration.version in applied:
                continue
            tx.execute_script(migration.sql)
            tx.execute("INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                       "VALUES (:version, :name, :checksum, :applied_at)",
                       {"version": migration.version, "name": migration.name, "checksum": migration.checksum,
                        "applied_at": _utc_now()})
        done.append(migration.version)
    return done


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _has_table(tx: Transaction, dialect: str) -> bool:
    if dialect == "postgresql":
        return tx.fetchone("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")["present"]
    return tx.fetchone("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' "
                       "AND name = 'schema_migrations'")["n"] == 1


def status(store: Store, directory: Path | None = None) -> list[MigrationState]:
    """Every migration this code knows, and any the database has that it does not."""
    plan = load(store.dialect, directory)
    with store.transaction() as tx:
        applied = _applied(tx) if _has_table(tx, store.dialect) else {}
    states = [MigrationState(m.version, m.name,
                             applied[m.version]["applied_at"] if m.version in applied else None,
                             applied[m.version]["checksum"] == m.checksum if m.version in applied else None)
              for m in plan]
    known = {m.version for m in plan}
    states += [MigrationState(v, r["name"], r["applied_at"], None, known=False)
               for v, r in sorted(applied.items()) if v not in known]
    return sorted(states, key=lambda s: s.version)
