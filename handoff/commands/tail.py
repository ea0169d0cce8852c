"""`handoff tail TOPIC`: the newest records of a topic, decoded, one JSON line each (pipeline/tail.py).

    handoff tail ems.run --last 5                 person data masked ("[masked]"): for IT
    handoff tail ems.run --follow                 and every new record until Ctrl-C
    handoff tail ems.run --show-phi --user po-1   unmasked: the account must hold the `records`
                                                  permission (privacy officer); a `view` audit
                                                  record is written before anything is shown

Refusals are one line and an exit code: no such topic (2), no account or no permission for
--show-phi (2), the broker away (3).
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Optional

import typer


def tail_cmd(topic: str = typer.Argument(..., help="a catalogue name (ems.run) or a full topic name"),
             last: int = typer.Option(10, min=0, help="how many of the newest records (per topic, by time)"),
             follow: bool = typer.Option(False, "--follow", "-f", help="then print new records until Ctrl-C"),
             show_phi: bool = typer.Option(False, "--show-phi", help="do not mask person data (needs --user; "
                                                                      "audited)"),
             user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)"),
             bootstrap: str = typer.Option("", help="host:port; default HANDOFF_KAFKA__BOOTSTRAP")) -> None:
    """Print the newest records of TOPIC, decoded; person data masked unless --show-phi."""
    from handoff.commands.topics import _bootstrap
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.kafka.secure import client_options
    from pipeline.settings import Settings
    from pipeline.tail import tail
    from pipeline.topics import Catalogue

    settings = Settings()
    catalogue = Catalogue(settings.kafka.topic_prefix)
    found = {t.name: t for t in catalogue} | {t.full_name: t for t in catalogue}
    if topic not in found:
        raise CliError(f"no topic {topic!r} in the catalogue (handoff topics list)")
    if show_phi:
        _audit_view(settings, user, found[topic].full_name, last, follow)
    bootstrap, _ = _bootstrap(bootstrap)

    async def run() -> None:
        async for line in tail(bootstrap, found[topic], last, follow, show_phi, **client_options(settings.kafka)):
            typer.echo(line)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except Exception as e:  # the broker is away or refuses: one line, exit 3
        raise CliError(f"cannot read {found[topic].full_name} from {bootstrap}: {e or type(e).__name__}",
                       EXIT_UNAVAILABLE) from None


def _audit_view(settings, user: str | None, full_name: str, last: int, follow: bool) -> None:
    """The account must hold `records`; the view is on the audit record before a record is shown."""
    from handoff.commands.users import checked_user
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.audit.emit import os_user, view_audit
    from pipeline.audit.sink import record_direct
    from pipeline.people import Permission
    from pipeline.storage import StorageError, open_store

    try:
        store = open_store(settings.storage.url)
    except StorageError as e:
        raise CliError(f"cannot open the database: {e}", EXIT_UNAVAILABLE) from None
    try:
        name = checked_user(store, user, Permission.RECORDS)
        query = json.dumps({"topic": full_name, "last": last, "follow": follow})
        record_direct(store, view_audit(name, datetime.now(timezone.utc), "cli", "topic records", query=query,
                                        os_login=os_user()))
    finally:
        store.close()
