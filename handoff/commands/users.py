"""`handoff users add|disable|roles|list`: the local accounts of the web service and the command line.

    handoff users add NAME --role provider --organisation org-bridge-clinic [--name "Pat"] [--totp]
                     [--password-stdin]        (else asked twice, hidden)
    handoff users roles NAME --role privacy-officer [--role outreach] [--organisation ORG]
    handoff users disable NAME                  (its sessions end at once)
    handoff users list

Whoever can run these can reach the database; each change is an `admin` audit record with the
operating-system user, in the direct chain.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, Optional

import typer

cli = typer.Typer(help="Local accounts: add, disable, change roles, list.", no_args_is_help=True)


@contextmanager
def _accounts() -> Iterator:
    from handoff.errors import EXIT_UNAVAILABLE, EXIT_USAGE, CliError
    from pipeline.people import AccountError, Accounts, WeakPassword
    from pipeline.settings import Settings
    from pipeline.storage import StorageError, open_store

    settings = Settings()
    try:
        with open_store(settings.storage.url) as store:
            store.migrate()
            yield Accounts(store), store
    except (AccountError, WeakPassword, ValueError) as e:
        raise CliError(str(e), EXIT_USAGE) from None
    except StorageError as e:
        raise CliError(f"database unavailable: {e.reason}", EXIT_UNAVAILABLE) from None


def _record(store, username: str, action: str, detail: dict[str, str]) -> None:
    from datetime import datetime, timezone

    from pipeline.audit.emit import admin_audit, os_user
    from pipeline.audit.sink import record_direct
    login = os_user()
    record_direct(store, admin_audit(login or "unknown", datetime.now(timezone.utc), action, f"account:{username}",
                                     detail, os_login=login))


def _now():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@cli.command("add")
def add(username: str = typer.Argument(..., help="lower-case letters, digits, . _ @ -"),
        role: list[str] = typer.Option(..., "--role", help="it-operator, outreach, provider, privacy-officer, "
                                                           "programme-lead, admin (repeat or comma-separate)"),
        organisation: str = typer.Option("", help="a provider's organisation (its recipient id in the directory); an outreach or responder account's agency (edges.agencies)"),
        name: str = typer.Option("", help="the name shown on pages"),
        totp: bool = typer.Option(False, "--totp", help="require a TOTP code at sign-in (prints the secret once)"),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin")) -> None:
    """Make a local account."""
    from pipeline.people import parse_roles, totp_uri

    with _accounts() as (accounts, store):
        roles = parse_roles(",".join(role))
        secret = accounts.add(username, roles, name, _password(password_stdin), _now(), organisation, totp)
        _record(store, username, "account-add", {"roles": ",".join(sorted(roles)), "organisation": organisation,
                                                  "totp": "yes" if totp else "no"})
    typer.echo(f"account {username} added: {', '.join(sorted(roles))}"
               + (f", organisation {organisation}" if organisation else ""))
    if secret:
        typer.echo(f"TOTP (shown once; add it to an authenticator app): {totp_uri(secret, username)}")


@cli.command("roles")
def roles(username: str = typer.Argument(..., help="the account"),
          role: list[str] = typer.Option([], "--role", help="the account's roles from now on (none: show them)"),
          organisation: str = typer.Option("", help="a provider's organisation")) -> None:
    """Show or set an account's roles (setting them ends its open sessions)."""
    from handoff.errors import EXIT_USAGE, CliError
    from pipeline.people import parse_roles

    with _accounts() as (accounts, store):
        if role:
            new = parse_roles(",".join(role))
            account = accounts.set_roles(username, new, _now(), organisation)
            _record(store, username, "account-roles", {"roles": ",".join(sorted(new)), "organisation": organisation})
        else:
            account = accounts.get(username)
            if account is None:
                raise CliError(f"no account named {username!r}", EXIT_USAGE)
    typer.echo(f"{account.username}: {', '.join(sorted(account.roles))}"
               + (f", organisation {account.organisation_id}" if account.organisation_id else "")
               + (" (disabled)" if account.disabled else ""))


@cli.command("disable")
def disable(username: str = typer.Argument(..., help="the account")) -> None:
    """Disable an account; its sessions end at once."""
    with _accounts() as (accounts, store):
        accounts.disable(username, _now())
        _record(store, username, "account-disable", {})
    typer.echo(f"account {username} disabled")


@cli.command("list")
def list_accounts(organisation: Optional[str] = typer.Option(None, help="only this organisation's")) -> None:
    """Every account: name, roles, organisation, second factor, state."""
    with _accounts() as (accounts, _):
        found = [a for a in accounts.list() if organisation is None or a.organisation_id == organisation]
    for a in found:
        state = "disabled" if a.disabled else ("locked" if a.locked_until and a.locked_until > _now().isoformat()
                                               else "active")
        typer.echo(f"{a.username}  {','.join(sorted(a.roles))}  {a.organisation_id or '-'}  "
                   f"totp {'yes' if a.has_totp else 'no'}  {state}")
    typer.echo(f"{len(found)} account(s)")


def checked_user(store, user: str | None, permission) -> str:
    """For commands that print person-level data: `--user` (else HANDOFF_USER) must name an enabled
    local account holding `permission`; a one-line error (exit 2) otherwise. Returns the name."""
    import os

    from handoff.errors import EXIT_USAGE, CliError
    from pipeline.people import AccessDenied, cli_account

    try:
        return cli_account(store, user or os.environ.get("HANDOFF_USER"), permission).username
    except AccessDenied as e:
        raise CliError(str(e), EXIT_USAGE) from None
