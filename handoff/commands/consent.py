"""`handoff consent add|revoke|show|worklist`: the registry from the command line.

    handoff consent add consent.json          a FHIR Consent (file, or - for stdin)
    handoff consent revoke CONSENT_ID
    handoff consent show CONSENT_ID           the registry's Consent as FHIR JSON
    handoff consent worklist                  open holds (ids and tokens; the outreach seam)

Each change commits to the database, then the person's consent set is produced to `consent`
when a broker is configured (HANDOFF_KAFKA__BOOTSTRAP); otherwise the running service's
sweeper produces it. `show` and `worklist` are recorded as views in the audit log.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

cli = typer.Typer(help="The consent registry: add, revoke and show Consents.", no_args_is_help=True)


def _user(user: str | None) -> str:
    from pipeline.audit.emit import os_user
    return user or os.environ.get("HANDOFF_USER") or os_user() or "unknown"


@contextmanager
def _registry(settings) -> Iterator:
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.consent.registry import Registry
    from pipeline.storage import StorageError, open_store

    try:
        with open_store(settings.storage.url) as store:
            store.migrate()
            yield Registry(store)
    except StorageError as e:
        raise CliError(f"consent registry unavailable: {type(e).__name__}", EXIT_UNAVAILABLE) from None


def _produce(settings, registry) -> str:
    if not settings.kafka.bootstrap:
        return "the running service produces it to `consent` on its next sweep"
    from pipeline.clock import SystemClock
    from pipeline.consent.registry import publish_pending
    from pipeline.kafka.producer import ProducerSink
    from pipeline.kafka.secure import client_options
    from pipeline.stage import Writer
    from pipeline.topics import Catalogue

    async def go() -> int:
        async with ProducerSink(settings.kafka.bootstrap, **client_options(settings.kafka)) as sink:
            writer = Writer(Catalogue.from_settings(settings), sink, "consent-cli", backoff=(0.5, 1.0))
            return await asyncio.wait_for(publish_pending(registry, writer, SystemClock().now()), 30.0)

    try:
        return f"produced {asyncio.run(go())} consent set(s) to `consent`"
    except Exception as e:  # committed already; the sweeper produces it later
        return f"not produced now ({type(e).__name__}); the service's sweeper will"


@cli.command()
def add(path: str = typer.Argument(..., help="a FHIR Consent JSON file, or - for stdin"),
        user: Optional[str] = typer.Option(None, help="who records it (default: $HANDOFF_USER or the login)")) -> None:
    """Add or replace a Consent (a proposed one is completed by adding it again, complete)."""
    from handoff.errors import CliError
    from pipeline.clock import SystemClock
    from pipeline.consent.decide import missing_elements
    from pipeline.consent.fhir import from_fhir
    from pipeline.consent.registry import ConsentError
    from pipeline.settings import Settings

    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        person, consent = from_fhir(json.loads(text))
    except (ValueError, ConsentError) as e:
        raise CliError(f"not a usable Consent: {e}") from None
    settings = Settings()
    with _registry(settings) as registry:
        try:
            consent_set = registry.put(person, consent, SystemClock().now(), f"user:{_user(user)}", text)
        except ConsentError as e:
            raise CliError(str(e)) from None
        produced = _produce(settings, registry)
    missing = missing_elements(consent)
    typer.echo(f"consent {consent.consent_id}: {consent.status.value}, "
               f"{'complete' if not missing else 'missing ' + ', '.join(missing)}; "
               f"registry version {consent_set.registry_version}; {produced}")


@cli.command()
def revoke(consent_id: str = typer.Argument(..., help="the Consent id (consent show lists it)"), user: Optional[str] = typer.Option(None, help="who records the revocation")) -> None:
    """Revoke a Consent from now on: pending work on it is cancelled, open referrals get a cancellation."""
    from handoff.errors import CliError
    from pipeline.clock import SystemClock
    from pipeline.consent.registry import ConsentError
    from pipeline.settings import Settings

    settings = Settings()
    with _registry(settings) as registry:
        try:
            consent_set = registry.revoke(consent_id, SystemClock().now(), f"user:{_user(user)}")
        except ConsentError as e:
            raise CliError(str(e)) from None
        produced = _produce(settings, registry)
    typer.echo(f"consent {consent_id}: revoked; registry version {consent_set.registry_version}; {produced}")


def _record_view(settings, user: str, what: str, person=None, store=None) -> None:
    from pipeline.audit.emit import os_user, view_audit
    from pipeline.clock import SystemClock

    audit = view_audit(_user(user), SystemClock().now(), "cli", what, person=person, os_login=os_user())
    if not settings.kafka.bootstrap:  # no broker: on record in the direct chain all the same
        if store is not None:
            from pipeline.audit.sink import record_direct
            record_direct(store, audit)
        return
    from pipeline.kafka.producer import ProducerSink
    from pipeline.kafka.secure import client_options
    from pipeline.stage import Writer
    from pipeline.topics import Catalogue

    async def go() -> None:
        async with ProducerSink(settings.kafka.bootstrap, **client_options(settings.kafka)) as sink:
            await Writer(Catalogue.from_settings(settings), sink, "consent-cli").write([audit], [], [])

    asyncio.run(asyncio.wait_for(go(), 30.0))


@cli.command()
def show(consent_id: str = typer.Argument(..., help="the Consent id"),
         user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")) -> None:
    """Print the registry's Consent as FHIR JSON."""
    from handoff.errors import CliError
    from pipeline.consent.fhir import to_fhir
    from pipeline.settings import Settings

    from pipeline.people import Permission
    from handoff.commands.users import checked_user

    settings = Settings()
    with _registry(settings) as registry:
        user = checked_user(registry.store, user, Permission.CONSENTS)
        found = registry.find(consent_id)
        if found is not None:
            _record_view(settings, user, f"consent:{consent_id}", person=found[0], store=registry.store)
    if found is None:
        raise CliError(f"no consent {consent_id}")
    typer.echo(json.dumps(to_fhir(*found), indent=2))


@cli.command()
def worklist(programme: Optional[str] = typer.Option(None, help="only this programme's holds"),
             user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")
             ) -> None:
    """Open holds, oldest first: the requests waiting for consent (ids and tokens only)."""
    from pipeline.consent.gate import Gate
    from pipeline.consent.policy import load_policy
    from pipeline.settings import Settings

    from pipeline.people import Permission
    from handoff.commands.users import checked_user

    settings = Settings()
    with _registry(settings) as registry:
        user = checked_user(registry.store, user, Permission.HOLDS)
        rows = Gate(registry.store, load_policy(settings.consent.policy)).worklist(programme)
        _record_view(settings, user, "consent:worklist", store=registry.store)
    for row in rows:
        typer.echo(f"{row['held_at'][:19]}  until {row['expires_at'][:10]}  {row['referral_id']}  "
                   f"person {row['person_token'][:12]}…  to {row['recipient_id']}  {row['service']}")
    typer.echo(f"{len(rows)} open hold(s)")
