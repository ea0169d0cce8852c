"""`handoff topics`: list the catalogue, create its topics on a broker."""
from __future__ import annotations

import asyncio

import typer

cli = typer.Typer(help="The topic catalogue (pipeline/schemas/topics.yaml).", no_args_is_help=True)


@cli.command("list")
def list_() -> None:
    """Print every catalogued topic: name, partitions, key, value, retention, dead letters."""
    from pipeline.settings import Settings
    from pipeline.topics import Catalogue

    for t in Catalogue(Settings().kafka.topic_prefix):
        retention = "forever" if t.retention_ms < 0 else f"{t.retention_ms // 3_600_000}h"
        typer.echo(f"{t.full_name:40} p={t.partitions:<2} key={t.key.model.__name__:16} "
                   f"value={t.value.model.__name__:16} retention={retention:7} "
                   f"{'compacted ' if t.compacted else ''}dlq={t.dead_letter or '-'}")


@cli.command()
def create(bootstrap: str = typer.Option("", help="host:port; default HANDOFF_KAFKA__BOOTSTRAP")) -> None:
    """Create the catalogued topics that do not exist yet (idempotent)."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.settings import Settings
    from pipeline.kafka.secure import client_options
    from pipeline.topics import Catalogue, create_topics

    settings = Settings()
    bootstrap = bootstrap or settings.kafka.bootstrap
    if not bootstrap:
        raise CliError("no broker: pass --bootstrap or set HANDOFF_KAFKA__BOOTSTRAP")
    try:
        created = asyncio.run(create_topics(bootstrap, Catalogue.from_settings(settings),
                                           **client_options(settings.kafka)))
    except Exception as e:  # the broker is away or refuses: one line, exit 3
        raise CliError(f"cannot create topics on {bootstrap}: {e or type(e).__name__}", EXIT_UNAVAILABLE) from None
    typer.echo(f"created {len(created)} topic(s)" + (f": {', '.join(created)}" if created else ""))
