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


def _bootstrap(bootstrap: str) -> tuple[str, str]:
    from handoff.errors import CliError
    from pipeline.settings import Settings

    settings = Settings()
    bootstrap = bootstrap or settings.kafka.bootstrap
    if not bootstrap:
        raise CliError("no broker: pass --bootstrap or set HANDOFF_KAFKA__BOOTSTRAP")
    return bootstrap, settings.kafka.topic_prefix


@cli.command()
def lag(bootstrap: str = typer.Option("", help="host:port; default HANDOFF_KAFKA__BOOTSTRAP"),
        group: str = typer.Option("", help="only this consumer group")) -> None:
    """End offsets of every topic, and per consumer group and partition: committed offset and lag."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.monitor import topic_ends

    bootstrap, prefix = _bootstrap(bootstrap)
    try:
        ends = asyncio.run(topic_ends(bootstrap, prefix))
    except Exception as e:  # the broker is away: one line, exit 3
        raise CliError(f"cannot read offsets from {bootstrap}: {e or type(e).__name__}", EXIT_UNAVAILABLE) from None
    by_topic: dict[str, int] = {}
    for (t, _), end in ends.ends.items():
        by_topic[t] = by_topic.get(t, 0) + end
    typer.echo(f"{'topic':40} {'end':>8}")
    for t, end in sorted(by_topic.items()):
        typer.echo(f"{t:40} {end:>8}")
    rows = [x for x in ends.lags if not group or x.group == group]
    typer.echo(f"\n{'group':24} {'topic':40} {'part':>4} {'end':>8} {'committed':>9} {'lag':>8}")
    for x in rows:
        committed = "-" if x.committed is None else str(x.committed)
        typer.echo(f"{x.group:24} {x.topic:40} {x.partition:>4} {x.end:>8} {committed:>9} {x.lag:>8}")
    totals: dict[str, int] = {}
    for x in rows:
        totals[x.group] = totals.get(x.group, 0) + x.lag
    typer.echo("\n" + ("\n".join(f"lag {g}: {n}" for g, n in sorted(totals.items())) or "no consumer group"))
