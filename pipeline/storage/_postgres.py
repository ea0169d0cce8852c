"""The PostgreSQL backend: psycopg 3, READ COMMITTED, rows as dicts.

`:name` placeholders are rewritten to psycopg's `%(name)s` (see sql.py). Connections
are not in autocommit mode: the first statement opens the transaction, the store commits
or rolls it back. `transaction(immediate=True)` first takes a transaction-scoped advisory
lock, so immediate transactions exclude each other as they do on SQLite. A connection
the server dropped is detected by psycopg (`broken`) and discarded by the pool; the
failing transaction raises StorageUnavailable, and the next one reconnects.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from .errors import IntegrityError, StorageConflict, StorageError, StorageUnavailable
from .sql import named_to_pyformat

PREFIXES = ("postgresql://", "postgres://")
# SQLSTATE classes meaning "the server or the connection is not there now".
_UNAVAILABLE_CLASSES = ("08", "53", "57P")
_CONFLICT_STATES = ("40001", "40P01", "55P03")  # serialization failure, deadlock, lock not available


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresBackend:
    dialect = "postgresql"

    def __init__(self, url: str, timeout: float) -> None:
        if not url.startswith(PREFIXES):
            raise StorageError(f"not a PostgreSQL URL: {redact(url)!r}")
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as e:
            raise StorageError(f"malformed PostgreSQL URL {redact(url)!r}: {e}") from e
        self.url = url
        self.options: dict[str, Any] = {"row_factory": dict_row, "autocommit": False}
        if "connect_timeout" not in given:
            self.options["connect_timeout"] = max(1, int(timeout))
        if "application_name" not in given:
            self.options["application_name"] = "handoff"

    def describe(self) -> str:
        return redact(self.url)

    def connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, **self.options)
        except psycopg.Error as e:
            raise StorageUnavailable(f"cannot connect to {self.describe()}: {_first_line(e)}") from e

    def begin(self, conn: psycopg.Connection[Any], immediate: bool) -> None:
        # READ COMMITTED; the first statement opens the transaction. `immediate` makes
        # the transaction exclusive among immediate ones (per schema), as BEGIN IMMEDIATE
        # does on SQLite, so a read-modify-write behaves the same on both backends.
        if immediate:
            conn.execute("SELECT pg_advisory_xact_lock("
                         "hashtext('handoff.immediate.' || coalesce(current_schema(), '')))")

    def commit(self, conn: psycopg.Connection[Any]) -> None:
        conn.commit()

    def rollback(self, conn: psycopg.Connection[Any]) -> None:
        if not conn.closed:
            conn.rollback()

    def execute(self, conn: psycopg.Connection[Any], sql: str, params: Mapping[str, Any] | None) -> Any:
        return conn.execute(named_to_pyformat(sql), dict(params or {}))

    def executemany(self, conn: psycopg.Connection[Any], sql: str, seq: Iterable[Mapping[str, Any]]) -> int:
        with conn.cursor() as cur:
            cur.executemany(named_to_pyformat(sql), [dict(p) for p in seq])
            return cur.rowcount

    def execute_script(self, conn: psycopg.Connection[Any], script: str) -> None:
        conn.execute(script)  # no parameters: several statements in one call are allowed

    def usable(self, conn: psycopg.Connection[Any]) -> bool:
        return not conn.closed and not conn.broken and \
            conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def close(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()

    def translate(self, exc: BaseException) -> StorageError | None:
        if not isinstance(exc, psycopg.Error):
            return None
        state = exc.sqlstate or ""
        reason = _first_line(exc)
        if isinstance(exc, pg_errors.IntegrityError):
            return IntegrityError(reason, constraint=exc.diag.constraint_name)
        if state in _CONFLICT_STATES:
            return StorageConflict(reason)
        if state.startswith(_UNAVAILABLE_CLASSES) or (isinstance(exc, psycopg.OperationalError) and not state):
            return StorageUnavailable(f"{self.describe()}: {reason}")
        return StorageError(reason)


def _first_line(exc: psycopg.Error) -> str:
    # The primary message only: DETAIL lines can quote the values of a row.
    primary = exc.diag.message_primary if exc.diag else None
    return primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
