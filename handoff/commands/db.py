"""`handoff db`: apply the database migrations and show their status.

The database is `HANDOFF_STORAGE__URL` (default: SQLite under .run/). Exit codes:
1 an applied migration was changed or a storage error, 3 the database is unavailable.
"""
from __future__ import annotations

import typer

from pipeline.storage import MigrationError, StorageError, StorageUnavailable, open_store
from pipeline.storage.store import Store

cli = typer.Typer(help="The database: apply migrations (migrate) and show which are applied (status).",
                  no_args_is_help=True, add_completion=False)


def _open() -> Store:
    from pipeline.settings import Settings
    return open_store(Settings().storage.url)


def _fail(e: StorageError) -> Exception:
    from handoff.errors import EXIT_CHECK_FAILED, EXIT_UNAVAILABLE, CliError
    if isinstance(e, StorageUnavailable):
        return CliError(f"database unavailable: {e.reason}", EXIT_UNAVAILABLE)
    if isinstance(e, MigrationError):
        return CliError(f"migration refused: {e.reason}", EXIT_CHECK_FAILED)
    return CliError(f"database error: {e.reason}", EXIT_CHECK_FAILED)


@cli.command("migrate")
def migrate_command() -> None:
    """Apply the pending migrations, in order, each in its own transaction."""
    try:
        with _open() as store:
            applied = store.migrate()
            latest = max((s.version for s in store.status() if s.applied_at), default=0)
            where = store.location
    except StorageError as e:
        raise _fail(e) from e
    for version in applied:
        typer.echo(f"applied {version:04d}")
    typer.echo(f"{where}: at version {latest:04d} ({len(applied)} applied now)")


@cli.command("status")
def status_command() -> None:
    """List the migrations: applied (when), pending, changed or unknown to this code."""
    try:
        with _open() as store:
            states = store.status()
            where = store.location
    except StorageError as e:
        raise _fail(e) from e
    typer.echo(where)
    for s in states:
        if not s.known:
            mark = f"applied {s.applied_at} (unknown to this code)"
        elif s.applied_at is None:
            mark = "pending"
        elif s.checksum_ok:
            mark = f"applied {s.applied_at}"
        else:
            mark = f"applied {s.applied_at} but the file has CHANGED since"
        typer.echo(f"{s.version:04d}_{s.name}: {mark}")
