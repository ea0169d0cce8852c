"""`handoff ingest KIND PATH...`: parse files and publish their records (see connectors/ingest.py)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import typer

cli = typer.Typer(help="Files into Kafka: NEMSIS XML, NENA EIDO JSON, CAD CSV/JSONL exports, HL7 v2.",
                  no_args_is_help=True)


def _ingest(kind: str, paths: list[Path], journal: Path | None) -> None:
    from connectors.common import ParseContext
    from connectors.ingest import Journal, ingest_files
    from handoff.errors import EXIT_REFUSED, EXIT_UNAVAILABLE, CliError
    from handoff.progress import progress
    from pipeline.clock import SystemClock
    from pipeline.kafka.producer import ProducerSink
    from pipeline.kafka.secure import client_options
    from pipeline.settings import Settings
    from pipeline.stage import Writer
    from pipeline.topics import Catalogue

    settings = Settings()
    if not settings.kafka.bootstrap:
        raise CliError("no broker: set HANDOFF_KAFKA__BOOTSTRAP (the embedded one is started by `handoff run`)")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CliError(f"not a file: {missing[0]}")
    ctx = ParseContext.of(settings, "cli", SystemClock().now())
    journal_path = journal or Path(".run") / "ingest" / f"{kind}.journal"

    async def go(advance):
        async with ProducerSink(settings.kafka.bootstrap, **client_options(settings.kafka)) as sink:
            writer = Writer(Catalogue.from_settings(settings), sink, "ingest")
            return await ingest_files(writer, kind, paths, ctx, Journal(journal_path),
                                      lambda done, total: advance(1))

    try:
        with progress(f"{kind} files", len(paths)) as advance:  # a bar at a terminal (handoff/progress.py)
            summary = asyncio.run(go(advance))
    except OSError as e:
        raise CliError(f"cannot reach the broker or read input: {e}", EXIT_UNAVAILABLE) from None
    typer.echo(f"{kind}: {summary.records} records published from {summary.files} files "
               f"({summary.skipped_files} already done), {summary.refused} refused to the dead letters")
    for reason in summary.reasons[:20]:
        typer.echo(f"  refused: {reason}", err=True)
    if summary.refused:
        raise typer.Exit(EXIT_REFUSED)


def _command(kind: str, help_text: str):
    def command(paths: list[Path] = typer.Argument(..., help="files to ingest"),
                journal: Path = typer.Option(None, help="resume journal (default .run/ingest/KIND.journal)")):
        _ingest(kind, paths, journal)
    command.__doc__ = help_text
    return command


cli.command("nemsis")(_command("nemsis", "NEMSIS v3.5 EMSDataSet XML files onto ems.run."))
cli.command("hl7")(_command("hl7", "HL7 v2 ORU^R01 / ADT^A04/A08 files onto ems.run."))
cli.command("eido")(_command("eido", "NENA EIDO JSON documents onto dispatch.incident."))
cli.command("cad")(_command("cad", "CAD CSV or JSON-lines exports onto dispatch.incident."))
