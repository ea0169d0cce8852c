"""`handoff audit`: verify the log, account for disclosures, export FHIR, seal and expire.

    handoff audit verify [--checkpoints FILE] [--public-key HEX ...]   exit 1 at the first break
    handoff audit disclosures (--patient TOKEN | --name "Family, Given" --dob YYYY-MM-DD --sex F|M|U) [--json]
    handoff audit export [--out FILE] [--bundle] [--since ISO] [--until ISO] [--patient TOKEN]
    handoff audit seal [--all]          sign full segments (--all: every open tail too), export checkpoints
    handoff audit expire [--now ISO]    remove sealed segments past retention, under a signed checkpoint
    handoff audit public-key            the Ed25519 public key for the privacy officer's records

Reading person-level data here (disclosures, export) needs a local account with the
privacy-officer role (--user, else HANDOFF_USER; checked, see `handoff users`) and is
itself audited: a `view` record with that user and the OS user goes into the direct
chain before anything is shown.
"""
from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Optional

import typer

from pipeline import records as r
from pipeline.audit import fhir
from pipeline.audit.disclosures import candidate_tokens, disclosures
from pipeline.audit.emit import admin_audit, os_user, view_audit
from pipeline.audit.signing import Signer, Verifier
from pipeline.audit.sink import (Sealer, audit_codec as codec, expire, export_checkpoints, load_checkpoints,
                                 load_links, read_exported, record_direct, unchained)
from pipeline.audit.verify import verify
from pipeline.people import Permission
from handoff.commands.users import checked_user


cli = typer.Typer(help="The audit log: verify, disclosures, export, seal, expire.", no_args_is_help=True,
                  add_completion=False)


def _settings():
    from pipeline.settings import Settings
    return Settings()


@contextmanager
def _store(settings) -> Iterator:
    from handoff.errors import EXIT_CHECK_FAILED, EXIT_UNAVAILABLE, CliError
    from pipeline.storage import StorageError, StorageUnavailable, open_store
    try:
        with open_store(settings.storage.url) as store:
            yield store
    except StorageUnavailable as e:
        raise CliError(f"database unavailable: {e.reason}", EXIT_UNAVAILABLE) from None
    except StorageError as e:
        raise CliError(f"database error: {e.reason}", EXIT_CHECK_FAILED) from None


def _user(user: str | None) -> str:
    return user or os.environ.get("HANDOFF_USER") or os_user() or "unknown"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@cli.command("verify")
def verify_command(checkpoints: Optional[Path] = typer.Option(None, help="exported checkpoints (default: settings)"),
                   public_key: list[str] = typer.Option([], "--public-key", help="trusted Ed25519 key, hex")) -> None:
    """Check every chain and checkpoint, and the exported copies; report the first break."""
    from handoff.errors import EXIT_CHECK_FAILED, CliError
    settings = _settings()
    keys = (public_key or settings.audit.verify_keys
            or [Signer.from_secret(settings.security.audit_signing_key).public_hex])
    path = checkpoints or settings.audit.checkpoint_export
    exported = read_exported(path) if path.exists() else None
    started = time.perf_counter()
    with _store(settings) as store:
        report = verify(load_links(store), load_checkpoints(store), Verifier.of(keys), exported, codec().decode)
        legacy = unchained(store)
    seconds = time.perf_counter() - started
    typer.echo(f"{report.records} records in {report.partitions} chains, {report.checkpoints} checkpoints, "
               f"{report.sealed} records sealed; checked in {seconds:.2f}s"
               + (f" against {path}" if exported is not None else " (no exported checkpoints to compare)"))
    for warning in report.warnings + ([f"{legacy} records outside any chain (before migration 0002)"]
                                      if legacy else []):
        typer.echo(f"warning: {warning}")
    if not report.ok:
        more = f" ({len(report.breaks)} chains broken)" if len(report.breaks) > 1 else ""
        raise CliError(f"audit log broken at {report.first_break}{more}", EXIT_CHECK_FAILED)
    typer.echo("intact")


def _parse_name(name: str) -> tuple[str, str]:
    if "," in name:
        family, given = (p.strip() for p in name.split(",", 1))
    else:
        parts = name.split()
        family, given = (parts[-1], " ".join(parts[:-1])) if parts else ("", "")
    return family, given.split()[0] if given.split() else ""


@cli.command("disclosures")
def disclosures_command(
        patient: Optional[str] = typer.Option(None, help="a person token"),
        name: Optional[str] = typer.Option(None, help='"Family, Given" or "Given Family"'),
        dob: Optional[str] = typer.Option(None, help="date of birth, YYYY-MM-DD"),
        sex: str = typer.Option("U", help="F, M or U"),
        user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)"),
        as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table")) -> None:
    """What was disclosed about a person: recipient, time, purpose, basis, variant."""
    from handoff.errors import EXIT_USAGE, CliError
    settings = _settings()
    if patient:
        tokens, query = [patient], "token"
    elif name and dob:
        try:
            birth = date.fromisoformat(dob)
        except ValueError:
            raise CliError(f"--dob {dob!r} is not YYYY-MM-DD", EXIT_USAGE) from None
        family, given = _parse_name(name)
        tokens = [c.token for c in candidate_tokens(family, given, birth, sex, settings.security.linkage_keys)]
        query = f"name+dob+sex, {len(tokens)} tokens over key versions {sorted(settings.security.linkage_keys)}"
    else:
        raise CliError("give --patient TOKEN, or --name, --dob (and --sex)", EXIT_USAGE)
    with _store(settings) as store:
        user = checked_user(store, user, Permission.DISCLOSURES)
        record_direct(store, view_audit(user, _now(), "cli", "disclosures", query=query, os_login=os_user(),
                                        person=r.PersonKey(person_token=patient, key_version=0) if patient else None))
        found = disclosures(store, tokens, codec().decode)
    if as_json:
        for d in found:
            typer.echo(json.dumps(d.as_json(), sort_keys=True))
        return
    typer.echo(f"{len(found)} disclosures")
    for d in found:
        typer.echo(f"{d.recorded_at}  to {d.recipient_id}  purpose {d.purpose}  basis {d.basis}  "
                   f"variant {d.variant or '-'}  consent {d.consent_id or '-'}  referral {d.referral_id}  {d.outcome}")


@cli.command("export")
def export_command(out: Optional[Path] = typer.Option(None, help="file to write (default: standard output)"),
                   as_bundle: bool = typer.Option(False, "--bundle", help="one FHIR Bundle instead of JSON lines"),
                   since: Optional[datetime] = typer.Option(None, help="events recorded at or after this time"),
                   until: Optional[datetime] = typer.Option(None, help="events recorded before this time"),
                   patient: Optional[str] = typer.Option(None, help="only records about this person token"),
                   user: Optional[str] = typer.Option(None, help="your local account (checked; else HANDOFF_USER)")
                   ) -> None:
    """Write the audit records as FHIR R4 AuditEvents (IHE BALP)."""
    settings = _settings()
    with _store(settings) as store:
        user = checked_user(store, user, Permission.DISCLOSURES)
        record_direct(store, view_audit(user, _now(), "cli", "audit-export", os_login=os_user(),
                                        query=f"since={since} until={until} patient={'yes' if patient else 'all'}"))
        resources = [fhir.to_fhir(e) for e in _events(store, since, until, patient)]
    lines = [json.dumps(fhir.bundle(resources))] if as_bundle else [json.dumps(res) for res in resources]
    text = "".join(line + "\n" for line in lines)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        typer.echo(f"{len(resources)} AuditEvents written to {out}", err=True)


def _events(store, since: datetime | None, until: datetime | None, patient: str | None) -> list[r.AuditEvent]:
    decode = codec().decode
    events = [decode(link.body) for link in load_links(store)]
    if patient:
        events = [e for e in events if e.person is not None and e.person.person_token == patient]
    if since:
        events = [e for e in events if e.recorded_at >= _aware(since)]
    if until:
        events = [e for e in events if e.recorded_at < _aware(until)]
    return sorted(events, key=lambda e: (e.recorded_at, e.audit_id))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@cli.command("seal")
def seal_command(all_: bool = typer.Option(False, "--all", help="also seal each open tail")) -> None:
    """Sign every full segment (with --all, every open tail too) and export the checkpoints."""
    settings = _settings()
    with _store(settings) as store:
        made = Sealer.from_settings(settings).seal(store, _now(), force=all_)
        export_checkpoints(store, settings.audit.checkpoint_export)  # also catches up after a failed write
    total = len(read_exported(settings.audit.checkpoint_export))
    typer.echo(f"{len(made)} segments sealed; {settings.audit.checkpoint_export} holds {total} checkpoints")


@cli.command("expire")
def expire_command(now: Optional[datetime] = typer.Option(None, help="the time to expire at (default: now)"),
                   user: Optional[str] = typer.Option(None, help="the signed-in user (recorded)")) -> None:
    """Remove sealed segments older than the retention period, under signed expiry checkpoints."""
    settings = _settings()
    at = _aware(now) if now else _now()
    cutoff = at - timedelta(days=settings.audit.retention_days)
    signer = Signer.from_secret(settings.security.audit_signing_key)
    with _store(settings) as store:
        made = expire(store, signer, cutoff, at, settings.audit.checkpoint_export)
        removed = sum(c.fields["removed"] for c in made)
        record_direct(store, admin_audit(_user(user), at, "audit-expire", "audit_record", os_login=os_user(),
                                         detail={"cutoff": cutoff.isoformat(), "removed": str(removed)}))
    typer.echo(f"{removed} records in whole sealed segments before {cutoff.isoformat()} expired "
               f"({len(made)} expiry checkpoints)")


@cli.command("public-key")
def public_key_command() -> None:
    """Print the Ed25519 public key that verifies this host's checkpoints."""
    signer = Signer.from_secret(_settings().security.audit_signing_key)
    typer.echo(f"{signer.public_hex}  key id {signer.key_id}")


