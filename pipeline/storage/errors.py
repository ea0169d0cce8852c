"""Storage errors: one small tree, the same from SQLite and PostgreSQL.

    StorageError             base; permanent unless a subclass says otherwise
    ├── StorageUnavailable   cannot connect, connection lost, pool exhausted   transient: retry later
    ├── StorageConflict      lock timeout, serialization failure, deadlock     transient: retry the transaction
    ├── IntegrityError       unique / foreign-key / check / not-null violation permanent
    └── MigrationError       a migration file is malformed, or an applied one was changed  permanent

`transient` says whether retrying the same operation later may succeed. Messages name
tables, constraints and reasons, never the values of a row (they may be person data).
"""
from __future__ import annotations


class StorageError(Exception):
    transient = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageUnavailable(StorageError):
    transient = True


class StorageConflict(StorageError):
    transient = True


class IntegrityError(StorageError):
    def __init__(self, reason: str, constraint: str | None = None) -> None:
        super().__init__(reason)
        self.constraint = constraint


class MigrationError(StorageError):
    pass
