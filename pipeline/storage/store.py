"""The Store: synchronous, thread-safe transactions over SQLite or PostgreSQL.

    store = open_store(settings.storage.url)
    store.migrate()
    with store.transaction() as tx:
        tx.execute("INSERT INTO t (k, v) VALUES (:k, :v) ON CONFLICT DO NOTHING", {"k": k, "v": v})
        row = tx.fetchone("SELECT v FROM t WHERE k = :k", {"k": k})   # a dict, or None

A transaction commits when its block ends normally and rolls back when it raises.
Transactions do not nest (one per thread at a time), except inside `store.batch()`: there
every transaction the thread opens is a savepoint of the batch's one transaction (released
at its end, rolled back to when it raises), and the batch commits once, at its end. A stage
runs a batch's units of work so (one commit, one write lock, one thread hand-off per batch
instead of per record). Async callers wrap a whole unit of work in `await asyncio.to_thread(fn)`.
Driver exceptions come out as the errors in errors.py, from either backend.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, TypeVar

from . import migrate as _migrate
from ._postgres import PREFIXES as PG_PREFIXES, PostgresBackend
from ._sqlite import PREFIX as SQLITE_PREFIX, SqliteBackend
from .errors import StorageError, StorageUnavailable

Params = Mapping[str, Any] | None
T = TypeVar("T")


class Backend(Protocol):
    dialect: str

    def describe(self) -> str: ...
    def connect(self) -> Any: ...
    def begin(self, conn: Any, immediate: bool) -> None: ...
    def commit(self, conn: Any) -> None: ...
    def rollback(self, conn: Any) -> None: ...
    def execute(self, conn: Any, sql: str, params: Params) -> Any: ...
    def executemany(self, conn: Any, sql: str, seq: Iterable[Mapping[str, Any]]) -> int: ...
    def execute_script(self, conn: Any, script: str) -> None: ...
    def usable(self, conn: Any) -> bool: ...
    def close(self, conn: Any) -> None: ...
    def translate(self, exc: BaseException) -> StorageError | None: ...


def _call(backend: Backend, fn: Callable[[], T]) -> T:
    """Run a driver call, turning driver exceptions into storage errors."""
    try:
        return fn()
    except StorageError:
        raise
    except Exception as e:
        err = backend.translate(e)
        if err is None:
            raise
        raise err from e


class _Pool:
    """At most `size` connections, reused last-in first-out; broken ones are dropped."""

    def __init__(self, backend: Backend, size: int, wait: float) -> None:
        self._backend, self._size, self._wait = backend, size, wait
        self._idle: list[Any] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self) -> Any:
        deadline = time.monotonic() + self._wait
        with self._cond:
            while True:
                if self._closed:
                    raise StorageError("the store is closed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self._size:
                    self._count += 1
                    break
                if not self._cond.wait(deadline - time.monotonic()):
                    raise StorageUnavailable(f"no free database connection within {self._wait:g} s")
        try:
            return self._backend.connect()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def release(self, conn: Any) -> None:
        keep = False
        try:
            keep = self._backend.usable(conn)
        except Exception:
            pass
        with self._cond:
            if keep and not self._closed:
                self._idle.append(conn)
                conn = None
            else:
                self._count -= 1
            self._cond.notify()
        if conn is not None:
            self._quietly_close(conn)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            self._quietly_close(conn)

    def _quietly_close(self, conn: Any) -> None:
        try:
            self._backend.close(conn)
        except Exception:
            pass


class Transaction:
    """One open transaction; valid only inside its `with` block."""

    def __init__(self, backend: Backend, conn: Any) -> None:
        self._backend, self._conn, self._open = backend, conn, True

    def _run(self, fn: Callable[[], T]) -> T:
        if not self._open:
            raise StorageError("the transaction is finished")
        return _call(self._backend, fn)

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the number of rows it changed (0 for an ON CONFLICT DO NOTHING skip)."""
        return self._run(lambda: self._backend.execute(self._conn, sql, params).rowcount)

    def executemany(self, sql: str, seq: Iterable[Mapping[str, Any]]) -> int:
        return self._run(lambda: self._backend.executemany(self._conn, sql, seq))

    def fetchone(self, sql: str, params: Params = None) -> dict[str, Any] | None:
        return self._run(lambda: self._backend.execute(self._conn, sql, params).fetchone())

    def fetchall(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        return self._run(lambda: list(self._backend.execute(self._conn, sql, params).fetchall()))

    def execute_script(self, script: str) -> None:
        """Run several `;`-separated statements without parameters (migrations)."""
        self._run(lambda: self._backend.execute_script(self._conn, script))


class Store:
    def __init__(self, backend: Backend, max_connections: int = 8, wait: float = 30.0) -> None:
        self._backend = backend
        self._pool = _Pool(backend, max_connections, wait)
        self._local = threading.local()
        self.dialect: str = backend.dialect
        self._pool.release(self._pool.acquire())  # fail fast when the database is not there

    def __repr__(self) -> str:
        return f"Store({self._backend.describe()})"

    @property
    def location(self) -> str:
        """The database, without its password."""
        return self._backend.describe()

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[Transaction]:
        """A transaction. `immediate=True` takes the write lock at once (SQLite: BEGIN
        IMMEDIATE; PostgreSQL: an advisory lock shared by immediate transactions only):
        use it for read-modify-write sequences."""
        outer = getattr(self._local, "batch", None)
        if outer is not None:
            with self._savepoint(outer) as tx:
                yield tx
            return
        if getattr(self._local, "active", False):
            raise StorageError("transactions do not nest: finish the open one first")
        backend = self._backend
        conn = self._pool.acquire()
        self._local.active = True
        tx = Transaction(backend, conn)
        try:
            _call(backend, lambda: backend.begin(conn, immediate))
            yield tx
            tx._open = False
            _call(backend, lambda: backend.commit(conn))
        except BaseException:
            tx._open = False
            try:
                backend.rollback(conn)
            except Exception:
                pass  # the pool drops a connection that is still in a transaction or broken
            raise
        finally:
            self._local.active = False
            self._pool.release(conn)

    @contextmanager
    def batch(self) -> Iterator[Transaction]:
        """One write-locked transaction for a batch of units of work (see the module's docstring)."""
        with self.transaction(immediate=True) as tx:
            self._local.batch, self._local.savepoints = tx, 0
            try:
                yield tx
            finally:
                self._local.batch = None

    @contextmanager
    def _savepoint(self, tx: Transaction) -> Iterator[Transaction]:
        self._local.savepoints += 1
        name = f"unit_{self._local.savepoints}"
        tx.execute(f"SAVEPOINT {name}")
        try:
            yield tx
        except BaseException:
            tx.execute(f"ROLLBACK TO SAVEPOINT {name}")
            tx.execute(f"RELEASE SAVEPOINT {name}")
            raise
        tx.execute(f"RELEASE SAVEPOINT {name}")

    def migrate(self, directory: Path | None = None) -> list[int]:
        """Apply the pending migrations in order; returns the versions applied (empty when up to date)."""
        return _migrate.migrate(self, directory)

    def status(self, directory: Path | None = None) -> list[_migrate.MigrationState]:
        return _migrate.status(self, directory)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, max_connections: int = 8, timeout: float = 10.0) -> Store:
    """A Store for `sqlite:///path` or `postgresql://user:pass@host:port/db`.

    `timeout`: seconds to wait for a connection or (SQLite) for the write lock. Raises
    StorageUnavailable when the database cannot be reached now, StorageError for a bad URL.
    """
    backend: Backend
    if url.startswith(SQLITE_PREFIX):
        backend = SqliteBackend(url, timeout)
    elif url.startswith(PG_PREFIXES):
        backend = PostgresBackend(url, timeout)
    else:
        raise StorageError("storage URL must start with sqlite:/// or postgresql://")
    return Store(backend, max_connections=max_connections, wait=max(timeout, 1.0))
