"""`handoff referrals`: the closed loop from the command line.

    handoff referrals list [--state S] [--recipient ID] [--overdue] [--json]
    handoff referrals show REFERRAL_ID [--json]      the whole status history (a view, audited)

Referral state is sensitive (a referral to a SUD programme marks a person): `--user` (else
HANDOFF_USER) must name an enabled local account with the `referrals` permission (outreach,
privacy officer), and each command records a `view` audit record with that user and the OS
user before anything is shown. What a provider reported is shown only where the legal model
lets the account's organisation be told it (pipeline/track/visibility.py); else "withheld".
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Optional

import typer

from handoff.commands.users import checked_user
from pipeline.audit.emit import os_user, view_audit
from pipeline.people import Permission
from pipeline.audit.sink import record_direct
from pipeline.track import list_referrals, show_referral
from pipeline.track.visibility import WITHHELD
from pipeline.vocab import ReferralState

cli = typer.Typer(help="Referrals: state, history, deadlines (the closed loop).", no_args_is_help=True,
                  add_completion=False)


def _viewer(store, settings, username: str, now: datetime):
    from pipeline.people import Accounts
    from pipeline.track.visibility import Viewer

    return Viewer(store, settings, Accounts(store).get(username), now)


def _open(settings):
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.storage import StorageUnavailable, open_store
    try:
        store = open_store(settings.storage.url)
        store.migrate()
        return store
    except StorageUnavailable as e:
        raise CliError(f"database unavailable: {e.reason}", EXIT_UNAVAILABLE) from None


@cli.command("list")
def list_cmd(state: Optional[str] = typer.Option(None, help="only referrals in this state"),
             recipient: Optional[str] = typer.Option(None, help="only referrals to this recipient id"),
             overdue: bool = typer.Option(False, "--overdue", help="only referrals with a deadline past due"),
             as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table"),
             user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")) -> None:
    """Current referrals, newest first, with their next deadline."""
    from handoff.errors import CliError
    from pipeline.settings import Settings

    if state and state not in {s.value for s in ReferralState}:
        raise CliError(f"--state {state!r}: expected one of {', '.join(s.value for s in ReferralState)}")
    settings, now = Settings(), datetime.now(timezone.utc)
    store = _open(settings)
    try:
        query = json.dumps({"state": state, "recipient": recipient, "overdue": overdue})
        name = checked_user(store, user, Permission.REFERRALS)
        record_direct(store, view_audit(name, now, "cli", "referrals", query=query, os_login=os_user()))
        viewer = _viewer(store, settings, name, now)
        rows = [viewer.listed(row) for row in list_referrals(store, now, state or "", recipient or "", overdue)]
    finally:
        store.close()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    if not rows:
        typer.echo("no referrals match")
        return
    typer.echo(f"{'referral':32} {'state':12} {'recipient':24} {'service':20} next deadline")
    for row in rows:
        due = f"{row['deadline']} {row['due_at']}{' OVERDUE' if row['overdue'] else ''}" if row["deadline"] else "-"
        typer.echo(f"{row['referral_id']:32} {row['state']:12} {row['recipient_id'] or '-':24} "
                   f"{row['service'] or '-':20} {due}")


@cli.command("show")
def show_cmd(referral_id: str = typer.Argument(..., help="the referral id"),
             as_json: bool = typer.Option(False, "--json", help="JSON instead of text"),
             user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")) -> None:
    """One referral's whole status history, deadlines and escalation."""
    from handoff.errors import EXIT_CHECK_FAILED, CliError
    from pipeline.settings import Settings

    settings, now = Settings(), datetime.now(timezone.utc)
    store = _open(settings)
    try:
        name = checked_user(store, user, Permission.REFERRALS)
        record_direct(store, view_audit(name, now, "cli", "referral", referral_id=referral_id, os_login=os_user()))
        found = show_referral(store, referral_id)
        found = _viewer(store, settings, name, now).shown(found) if found is not None else None
    finally:
        store.close()
    if found is None:
        raise CliError(f"no referral {referral_id!r}", EXIT_CHECK_FAILED)
    if as_json:
        typer.echo(json.dumps(found, default=str, indent=2))
        return
    ref = found["referral"]
    typer.echo(f"{ref['referral_id']}: {ref['state']} (business status {ref['business_status'] or '-'}), "
               f"to {ref['recipient_id'] or '-'} for {ref['service'] or '-'}")
    for h in found["history"]:
        mark = {"applied": "", "repeat": " (repeat)", "refused": " REFUSED"}[h["outcome"]] \
            if h["to_state"] != WITHHELD else ""
        typer.echo(f"  {h['occurred_at']}  {h['from_state'] or 'new'} -> {h['to_state']}{mark}  by {h['source']}"
                   f" {h['reported_by']}{': ' + h['reason'] if h['reason'] else ''}")
    for d in found["deadlines"]:
        typer.echo(f"  deadline {d['name']}: due {d['due_at']}, {d['status']}")
    if found["escalation"]:
        e = found["escalation"]
        typer.echo(f"  escalation: {e['status']} ({e['reason']}); excluded {e['excluded']}")
