"""`handoff topology`: the diagram generated from the topology table (pipeline/app.py)."""
from __future__ import annotations

import typer


def cli() -> None:
    """Print the topology: every stage, the topics it consumes and produces, its error policy."""
    from pipeline.app import PERIODIC, STAGES
    from pipeline.topology import diagram

    typer.echo(diagram(STAGES, PERIODIC), nl=False)
