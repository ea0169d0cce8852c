"""`handoff outreach list|show|attempt`: the outreach worklist from the command line.

    handoff outreach list --user ana              overdue first: due, name, born, phone, where, needs
    handoff outreach show ref-… --user ana         one entry with its contact attempts
    handoff outreach attempt ref-… --method phone --outcome no-answer --note "…" --user ana

`--user` (or HANDOFF_USER) names a local account with the holds permission (outreach, privacy
officer). Every list and show is a view audit record. An account whose organisation is a
law-enforcement agency sees no recipient and no provider status, as on the page.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import typer

cli = typer.Typer(help="The outreach worklist: people to reach, and contact attempts.", no_args_is_help=True)
USER = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")


@contextmanager
def _open(user: str | None) -> Iterator[tuple]:
    """(settings, store, the checked account's name, its team: pipeline.outreach.worklist.Team)."""
    from datetime import datetime, timezone

    from handoff.commands.consent import _registry
    from handoff.commands.users import checked_user
    from pipeline.outreach.worklist import team_of
    from pipeline.people import Permission, load_account
    from pipeline.settings import Settings

    settings = Settings()
    with _registry(settings) as registry:
        name = checked_user(registry.store, user, Permission.HOLDS)
        yield settings, registry.store, name, team_of(settings, load_account(registry.store, name), registry.store,
                                                      datetime.now(timezone.utc))


NEEDS = {"consent": "consent needed", "released": "released by a consent", "unplaced": "no recipient left"}


def _line(e) -> str:
    due = ("OVERDUE " if e.overdue else "") + (e.due_at[:16].replace("T", " ") or "-")
    where = e.scene or e.home or "-"
    tail = f"  {e.recipient}: {e.provider_status}" if e.recipient else ""
    return (f"{due}  {e.subject}  {e.name or '(no name)'}  born {e.birth_date or '-'}  {e.phone or '-'}  {where}"
            f"  {e.service} ({NEEDS[e.kind]}){tail}"
            f"  attempts {len(e.attempts)}")


@cli.command("list")
def list_cmd(user: Optional[str] = USER) -> None:
    """The team's people to reach: held for consent, or no recipient left; overdue first."""
    from handoff.commands.consent import _record_view
    from pipeline.clock import SystemClock
    from pipeline.outreach.worklist import worklist

    with _open(user) as (settings, store, name, team):
        rows = worklist(store, team, SystemClock().now())
        _record_view(settings, name, "outreach:worklist", store=store)
    for e in rows:
        typer.echo(_line(e))
    typer.echo(f"{len(rows)} to reach")


def _entry(store, subject: str, team):
    from handoff.errors import CliError
    from pipeline.clock import SystemClock
    from pipeline.outreach.worklist import entry

    found = entry(store, subject, team, SystemClock().now())
    if found is None:
        raise CliError(f"no open worklist entry {subject}")
    return found


@cli.command()
def show(subject: str = typer.Argument(..., help="the entry's id (as `outreach list` prints it)"),
         user: Optional[str] = USER) -> None:
    """One entry: how to find the person, and every contact attempt."""
    from handoff.commands.consent import _record_view

    with _open(user) as (settings, store, name, team):
        e = _entry(store, subject, team)
        _record_view(settings, name, f"outreach:{subject}", person=e.person, store=store)
    typer.echo(_line(e))
    if e.home:
        typer.echo(f"home: {e.home}")
    typer.echo(f"occurred: {e.occurred_at[:16].replace('T', ' ')}")
    for a in e.attempts:
        typer.echo(f"attempt {a.made_at[:16].replace('T', ' ')}  {a.method}  {a.outcome}  by {a.made_by}"
                   + (f"  {a.note}" if a.note else ""))


@cli.command()
def attempt(subject: str = typer.Argument(..., help="the entry's id"),
            method: str = typer.Option(..., help="phone | visit | text | letter | other"),
            outcome: str = typer.Option(..., help="reached | no-answer | left-message | wrong-number | not-found"
                                                  " | declined | other"),
            note: str = typer.Option("", help="a short note (no clinical detail)"),
            user: Optional[str] = USER) -> None:
    """Record a contact attempt on an entry."""
    from handoff.errors import CliError
    from pipeline.clock import SystemClock
    from pipeline.outreach.worklist import AttemptRefused, record_attempt

    with _open(user) as (settings, store, name, team):
        e = _entry(store, subject, team)
        try:
            attempt_id = record_attempt(store, subject, e.person, method, outcome, note, name, SystemClock().now())
        except AttemptRefused as err:
            raise CliError(str(err)) from None
    typer.echo(f"attempt {attempt_id} recorded on {subject}: {method}, {outcome}")
