"""`handoff config validate | diff | apply KIND PATH`: change detection rules, routing rules, the
provider directory or the consent policy safely (pipeline/config).

    handoff config validate routing site/rules.yaml     # loads, cross-checks, runs the cases and tests
    handoff config diff policy site/policy.yaml         # what changes, in words
    handoff config apply directory site/dir.json --user admin-1 --dry-run --days 7   # shadow replay
    handoff config apply directory site/dir.json --user admin-1                     # install it

KIND is rules (a ruleset directory or its detect.yaml), routing (rules.yaml), directory (a FHIR
Bundle JSON file) or policy (a policy file; its tests `<name>-tests.yaml` beside it). `apply`
needs an enabled local account with the admin role; it is audited; a version that fails
`validate` is refused (exit 1). Workers take the new version up at their next batch boundary.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import typer

from handoff.errors import EXIT_CHECK_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, CliError

cli = typer.Typer(help="Rules, routing, directory and policy: validate, diff, apply (with a shadow replay).",
                  no_args_is_help=True)
KIND_HELP = "rules | routing | directory | policy"


@contextmanager
def _store() -> Iterator:
    from pipeline.settings import Settings
    from pipeline.storage import StorageError, open_store

    settings = Settings()
    try:
        with open_store(settings.storage.url) as store:
            store.migrate()
            yield store, settings
    except StorageError as e:
        raise CliError(f"database unavailable: {e.reason}", EXIT_UNAVAILABLE) from None


def _bundle(kind: str, path: Path):
    from pipeline.config.bundle import ConfigError, read_bundle

    try:
        return read_bundle(kind, path)
    except ConfigError as e:
        raise CliError(str(e), EXIT_USAGE) from None


@cli.command("validate")
def validate_cmd(kind: str = typer.Argument(..., help=KIND_HELP),
                 path: Path = typer.Argument(..., help="the new version's file (or a ruleset's directory)")) -> None:
    """Load and check a version: schema, references to the versions in force, rule cases, policy tests."""
    from pipeline.config.apply import check_against_force

    bundle = _bundle(kind, path)
    with _store() as (store, settings):
        found, _ = check_against_force(store, settings, bundle)
    for line in found.checked:
        typer.echo(f"ok: {line}")
    for line in found.warnings:
        typer.echo(f"warning: {line}")
    for line in found.errors:
        typer.echo(f"error: {line}")
    if not found.ok:
        raise CliError(f"{path} fails validation: {len(found.errors)} error(s)", EXIT_CHECK_FAILED)
    typer.echo(f"{kind} {found.value.version} is valid ({len(found.warnings)} warning(s))")


@cli.command("diff")
def diff_cmd(kind: str = typer.Argument(..., help=KIND_HELP),
             path: Path = typer.Argument(..., help="the new version's file (or a ruleset's directory)")) -> None:
    """What the new version changes against the one in force, in words."""
    from pipeline.config.bundle import ConfigError, load_bundle
    from pipeline.config.current import current
    from pipeline.config.diff import describe

    bundle = _bundle(kind, path)
    try:
        new = load_bundle(bundle)
    except ConfigError as e:
        raise CliError(f"{path} does not load: {e}", EXIT_CHECK_FAILED) from None
    with _store() as (store, settings):
        now = current(store, settings, kind)
    typer.echo(f"in force: {now.source}")
    for line in describe(kind, now.value, new, now.bundle, bundle):
        typer.echo(line)


@cli.command("apply")
def apply_cmd(kind: str = typer.Argument(..., help=KIND_HELP),
              path: Path = typer.Argument(..., help="the new version's file (or a ruleset's directory)"),
              user: str = typer.Option("", "--user", help="your local account (the admin role); else HANDOFF_USER"),
              dry_run: bool = typer.Option(False, "--dry-run", help="replay recorded input through the current and "
                                           "the new version side by side; send nothing, install nothing"),
              days: float = typer.Option(7.0, "--days", help="with --dry-run: how far back to replay"),
              cases: int = typer.Option(50, "--cases", help="with --dry-run: case ids listed per change")) -> None:
    """Install a new version (admin, audited), or with --dry-run say what it would change."""
    import os

    from pipeline.audit.emit import os_user
    from pipeline.config.apply import ConfigRefused, apply_version
    from pipeline.people import AccessDenied, Permission, cli_account

    bundle = _bundle(kind, path)
    with _store() as (store, settings):
        name = user or os.environ.get("HANDOFF_USER", "")
        if not name:
            raise CliError("apply needs your account: --user NAME (a local account with the admin role)", EXIT_USAGE)
        try:
            account = cli_account(store, name, Permission.CONFIGURATION)
        except AccessDenied as e:
            raise CliError(str(e), EXIT_USAGE) from None
        now = datetime.now(timezone.utc)
        if dry_run:
            _dry_run(store, settings, bundle, account.username, days, cases, now)
            return
        try:
            done = apply_version(store, settings, bundle, account.username, now, os_user())
        except ConfigRefused as e:
            raise CliError(str(e), EXIT_CHECK_FAILED) from None
    if not done.seq:
        typer.echo(f"{kind} {done.version} is in force already: nothing installed")
        return
    typer.echo(f"installed {kind} {done.version} as #{done.seq} (was {done.previous}); workers take it up within "
               f"{settings.config.poll_seconds:g} s, at their next batch")


def _dry_run(store, settings, bundle, user: str, days: float, cases: int, now: datetime) -> None:
    from pipeline.config.shadow import dry_run, render_text

    if not settings.kafka.bootstrap:
        raise CliError("--dry-run replays from the broker: set HANDOFF_KAFKA__BOOTSTRAP", EXIT_USAGE)
    try:
        report = dry_run(store, settings, bundle, user, days, now)
    except ValueError as e:
        raise CliError(" ".join(str(e).split()), EXIT_CHECK_FAILED) from None
    typer.echo(render_text(report, cases))
