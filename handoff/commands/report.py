"""`handoff report` and `handoff surveillance`: programme outcomes and the overdose feed.

    handoff report --month YYYY-MM [--area A] [--csv | --json]     de-identified, small cells suppressed
    handoff surveillance export [--since D] [--until D] [--area A] [--format csv|json] [--out FILE]

The report needs an account with the `reports` permission (programme lead, privacy officer); the
export is a public-health disclosure and needs `surveillance` (privacy officer). Both are audited
(a `view` record with the user, the OS user and what was asked) before anything is printed.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Optional

import typer

from handoff.commands.referrals import _open
from handoff.commands.users import checked_user
from pipeline.audit.emit import os_user, view_audit
from pipeline.audit.sink import record_direct
from pipeline.people import Permission
from pipeline.vocab import Purpose

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

surveillance = typer.Typer(help="The overdose surveillance feed (public health).", no_args_is_help=True,
                           add_completion=False)


def report_cmd(month: str = typer.Option(..., help="the month, YYYY-MM"),
               area: Optional[str] = typer.Option(None, help="one area (county FIPS code or city); else all"),
               as_csv: bool = typer.Option(False, "--csv", help="long-form CSV instead of tables"),
               as_json: bool = typer.Option(False, "--json", help="JSON instead of tables"),
               user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")) -> None:
    """A month's programme report: calls, referrals, holds and time to first contact by pathway."""
    from handoff.errors import CliError
    from pipeline.report import tables
    from pipeline.report.store import month_report
    from pipeline.settings import Settings

    if not MONTH.match(month):
        raise CliError(f"--month {month!r}: expected YYYY-MM, e.g. 2026-03")
    if as_csv and as_json:
        raise CliError("--csv and --json: choose one")
    settings, now = Settings(), datetime.now(timezone.utc)
    store = _open(settings)
    try:
        record_direct(store, view_audit(checked_user(store, user, Permission.REPORTS), now, "cli", "report",
                                        query=json.dumps({"month": month, "area": area}), os_login=os_user()))
        report = month_report(store, month, area)
    finally:
        store.close()
    if as_csv:
        typer.echo(tables.to_csv(report), nl=False)
    elif as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        typer.echo(tables.to_text(report), nl=False)


def _day(value: str | None, flag: str) -> datetime | None:
    from handoff.errors import CliError
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), timezone.utc)
    except ValueError:
        raise CliError(f"{flag} {value!r}: expected a date, YYYY-MM-DD") from None


@surveillance.command("export")
def export_cmd(since: Optional[str] = typer.Option(None, help="from this day (UTC), YYYY-MM-DD"),
               until: Optional[str] = typer.Option(None, help="before this day (UTC), YYYY-MM-DD"),
               area: Optional[str] = typer.Option(None, help="one area only"),
               fmt: str = typer.Option("csv", "--format", help="csv or json"),
               out: Optional[Path] = typer.Option(None, help="write here instead of standard output"),
               user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")) -> None:
    """Every recognised overdose in the period, de-identified (ODMAP's fields): a public-health disclosure."""
    from handoff.errors import CliError
    from pipeline.report import feed
    from pipeline.report.store import overdoses
    from pipeline.settings import Settings

    if fmt not in ("csv", "json"):
        raise CliError(f"--format {fmt!r}: expected csv or json")
    start, end = _day(since, "--since"), _day(until, "--until")
    settings, now = Settings(), datetime.now(timezone.utc)
    store = _open(settings)
    try:
        who = checked_user(store, user, Permission.SURVEILLANCE)
        rows = overdoses(store, start, end, area)
        record_direct(store, view_audit(who, now, "cli", "surveillance-export", purpose=Purpose.PUBLIC_HEALTH,
                                        query=json.dumps({"since": since, "until": until, "area": area,
                                                          "format": fmt, "records": len(rows)}),
                                        os_login=os_user()))
    finally:
        store.close()
    text = feed.to_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"{len(rows)} overdose records written to {out}", err=True)
