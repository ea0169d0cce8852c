"""The SQLite backend: a file in WAL mode, foreign keys on, a busy timeout.

Connections run in autocommit mode (isolation_level=None) and the store issues BEGIN /
BEGIN IMMEDIATE itself, so a transaction is exactly what the caller's `with` block says.
SQLite allows one writer at a time: a writer waits up to the busy timeout for the lock.
A deferred transaction that reads and then writes can still lose the race (SQLITE_BUSY
without waiting); read-modify-write sequences use `transaction(immediate=True)`.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .errors import IntegrityError, StorageConflict, StorageError, StorageUnavailable

PREFIX = "sqlite:///"


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row)}


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/path` or `sqlite:////absolute/path` (SQLAlchemy's convention)."""
    rest = url[len(PREFIX):].split("?", 1)[0]
    if not url.startswith(PREFIX) or not rest or rest.startswith(":memory:") or rest.startswith("file:"):
        raise StorageError(f"not a SQLite file URL (use sqlite:///path/to/file.db): {url!r}")
    return Path(rest)


def split_script(script: str) -> Iterator[str]:
    """Split a script into statements at the semicolons SQLite itself calls complete
    (so `;` inside strings, comments and trigger bodies does not split)."""
    start = 0
    for i, ch in enumerate(script):
        if ch == ";" and sqlite3.complete_statement(script[start:i + 1]):
            yield script[start:i + 1]
            start = i + 1
    tail = script[start:]
    if any(line.strip() and not line.strip().startswith("--") for line in tail.splitlines()):
        yield tail


class SqliteBackend:
    dialect = "sqlite"

    def __init__(self, url: str, timeout: float, synchronous: str = "FULL") -> None:
        self.path = sqlite_path(url)
        self.timeout = timeout
        self.synchronous = synchronous
        # SQLite admits one writer; its busy handler makes the others sleep in growing steps
        # (1, 2, 5, 10 ... ms). Threads of this process take turns on this lock instead, so a
        # stage waits only as long as the transaction before it. Other processes still meet
        # the busy timeout.
        self._turn = threading.Lock()
        self._holder = threading.local()

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    def connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageUnavailable(f"cannot create the folder of {self.path}: {e.strerror}") from e
        deadline, pause = time.monotonic() + self.timeout, 0.005
        while True:
            try:
                return self._open()
            except sqlite3.Error as e:
                # Switching a new file to WAL takes it for a moment, and SQLite answers busy at once
                # there, not through the busy handler: workers starting together meet it.
                if not isinstance(self.translate(e), StorageConflict) or time.monotonic() + pause > deadline:
                    raise StorageUnavailable(f"cannot open {self.path}: {e}") from e
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = _dict_row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()["journal_mode"]
            if mode != "wal":
                raise StorageUnavailable(f"{self.path}: cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def begin(self, conn: sqlite3.Connection, immediate: bool) -> None:
        if not self._turn.acquire(timeout=self.timeout):
            raise StorageConflict(f"{self.path}: no turn at the database within {self.timeout:.0f}s")
        self._holder.turn = True
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except BaseException:
            self._release()
            raise

    def commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        finally:
            self._release()

    def rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            self._release()

    def _release(self) -> None:
        """Give the turn back, once, and only from the thread that took it."""
        if getattr(self._holder, "turn", False):
            self._holder.turn = False
            self._turn.release()

    def execute(self, conn: sqlite3.Connection, sql: str, params: Mapping[str, Any] | None) -> sqlite3.Cursor:
        return conn.execute(sql, params or {})

    def executemany(self, conn: sqlite3.Connection, sql: str, seq: Iterable[Mapping[str, Any]]) -> int:
        return conn.executemany(sql, seq).rowcount

    def execute_script(self, conn: sqlite3.Connection, script: str) -> None:
        # Not conn.executescript: it would COMMIT the open transaction first.
        for statement in split_script(script):
            conn.execute(statement)

    def usable(self, conn: sqlite3.Connection) -> bool:
        return not conn.in_transaction

    def close(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def translate(self, exc: BaseException) -> StorageError | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        message = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            return IntegrityError(message)
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StorageConflict(f"{self.path}: {message}")
        if code is not None and code & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
                                                 sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY):
            return StorageUnavailable(f"{self.path}: {message}")
        return StorageError(message)
