"""`handoff dlq list | show | replay`: dead letters you can work (pipeline/deadletters.py)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import typer

cli = typer.Typer(help="Dead letters: list, show, replay (person data masked).", no_args_is_help=True)

SINCE = typer.Option("", "--since", help="only newer than a duration back (30m, 2h, 7d) or an ISO time")
REASON = typer.Option("", "--reason", help="only those whose error type or reason contains this text")
BOOTSTRAP = typer.Option("", "--bootstrap", help="host:port; default HANDOFF_KAFKA__BOOTSTRAP")


def _find(bootstrap: str, since: str, reason: str, ids: list[str] = ()):
    from handoff.errors import EXIT_USAGE, CliError
    from pipeline.deadletters import find
    from pipeline.deadletters import since as since_time
    from pipeline.settings import Settings
    from pipeline.topics import Catalogue

    settings = Settings()
    bootstrap = bootstrap or settings.kafka.bootstrap
    if not bootstrap:
        raise CliError("no broker: pass --bootstrap or set HANDOFF_KAFKA__BOOTSTRAP")
    now = datetime.now(timezone.utc)
    try:
        after = since_time(since, now) if since else None
    except ValueError as e:
        raise CliError(str(e), EXIT_USAGE) from None
    catalogue = Catalogue(settings.kafka.topic_prefix)
    letters = asyncio.run(_bounded(find(bootstrap, catalogue, after, reason, ids), bootstrap))
    return settings, bootstrap, catalogue, now, letters


async def _bounded(work, bootstrap: str, seconds: float = 120.0):
    """`work`, or the broker is unavailable (a transient error: handoff/cli.py says so, exit 3)."""
    from pipeline.errors import Transient

    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        raise Transient(f"no answer from {bootstrap} within {seconds:.0f}s", dependency="broker") from None


@cli.command("list")
def list_(since: str = SINCE, reason: str = REASON, bootstrap: str = BOOTSTRAP) -> None:
    """One line per dead letter, oldest first: id, age, stage, where from, retryable, reason, what it was."""
    from pipeline.deadletters import age, summary

    _, _, catalogue, now, letters = _find(bootstrap, since, reason)
    for item in letters:
        x = item.letter
        typer.echo(f"{x.dead_letter_id[:12]}  {age(x, now):>4}  {x.stage:20} {x.topic}[{x.partition}]@{x.offset}  "
                   f"{'retryable' if x.retryable else 'permanent'}  {x.reason[:80]}  | {summary(catalogue, x)}")
    typer.echo(f"{len(letters)} dead letter(s)", err=True)


@cli.command()
def show(dead_letter_id: str = typer.Argument(..., help="an id from `handoff dlq list` (or its start)"),
         bootstrap: str = BOOTSTRAP) -> None:
    """Everything about one dead letter except the person data in it."""
    from handoff.errors import EXIT_USAGE, CliError
    from pipeline.deadletters import age, summary

    _, _, catalogue, now, letters = _find(bootstrap, "", "", [dead_letter_id])
    if len(letters) != 1:
        raise CliError(f"{len(letters)} dead letters match {dead_letter_id!r}; give more of the id", EXIT_USAGE)
    item = letters[0]
    x = item.letter
    rows = [("id", x.dead_letter_id), ("stage", x.stage), ("from", f"{x.topic}[{x.partition}]@{x.offset}"),
            ("failed at", f"{x.failed_at.isoformat()} ({age(x, now)} ago)"), ("error", x.error_type),
            ("retryable", str(x.retryable).lower()), ("reason", x.reason), ("record", summary(catalogue, x)),
            ("size", f"key {len(x.key or b'')} B, value {len(x.value or b'')} B"),
            ("headers", ", ".join(sorted(x.headers)) or "-"), ("held in", f"{item.dlq}@{item.offset}")]
    for name, value in rows:
        typer.echo(f"{name:10} {value}")


@cli.command()
def replay(ids: list[str] = typer.Argument(None, help="ids (or their starts); none: every one the filters match"),
           since: str = SINCE, reason: str = REASON, bootstrap: str = BOOTSTRAP,
           dry_run: bool = typer.Option(False, "--dry-run", help="say what would be replayed, produce nothing"),
           note: str = typer.Option("", "--note", help="why (goes into the replay audit record)")) -> None:
    """Re-produce the original bytes to the original topic, after a `replay` audit record."""
    from pipeline.audit.emit import os_user
    from handoff.errors import EXIT_USAGE, CliError
    from handoff.progress import progress
    from pipeline.deadletters import replay as replay_letters
    from pipeline.deadletters import summary
    from pipeline.kafka.producer import ProducerSink
    from pipeline.stage import Writer

    ids = ids or []
    if not (ids or since or reason):
        raise CliError("say which: ids, --since or --reason (all of them at once is never a default)", EXIT_USAGE)
    _, bootstrap, catalogue, now, letters = _find(bootstrap, since, reason, ids)
    for item in letters:
        x = item.letter
        typer.echo(f"{'would replay' if dry_run else 'replay'} {x.dead_letter_id[:12]} → {x.topic}  "
                   f"{summary(catalogue, x)}")
    if dry_run or not letters:
        typer.echo(f"{len(letters)} dead letter(s){' (dry run: nothing produced)' if dry_run else ''}")
        return
    why = note or f"handoff dlq replay {' '.join(ids)} --since {since or '-'} --reason {reason or '-'}"

    async def go(advance) -> None:
        async with ProducerSink(bootstrap) as sink:
            await replay_letters(Writer(catalogue, sink, "dlq-replay", backoff=(0.5, 1.0, 2.0)), letters, now,
                                 os_user() or "unknown", why, advance)

    with progress("replay", len(letters)) as advance:  # a bar at a terminal (handoff/progress.py)
        asyncio.run(_bounded(go(advance), bootstrap))
    typer.echo(f"{len(letters)} dead letter(s) replayed; a replay audit record is on {catalogue['audit'].full_name}")
