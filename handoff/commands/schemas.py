"""`handoff schemas`: write the generated Avro schemas, and check compatibility.

`write` regenerates pipeline/schemas/org.handoff.<Record>.avsc from pipeline/records.py; when a
committed schema changes, its previous text is first kept in pipeline/schemas/history/, so
every released version stays readable (the codec knows their fingerprints). `check`
fails when a committed file is stale, or a current schema is not fully compatible with
every version in its history (full transitive).
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline import records
from pipeline.avro.compat import full_errors
from pipeline.avro.generate import schema_for
from pipeline.topics import SCHEMA_DIR

cli = typer.Typer(help="Avro schemas of every topic: write them, check compatibility.", no_args_is_help=True)


def topic_records() -> list[type[records.Record]]:
    """Every record class that is a key or value of a catalogued topic, nested ones excluded."""
    from pipeline.topics import Catalogue

    seen: dict[str, type] = {}
    for topic in Catalogue():
        for codec in (topic.key, topic.value):
            seen[codec.model.__name__] = codec.model
    return [seen[name] for name in sorted(seen)]


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2) + "\n"


def schema_path(model: type, folder: Path = SCHEMA_DIR) -> Path:
    return folder / f"{model.namespace}.{model.__name__}.avsc"


def history_dir(model: type, folder: Path = SCHEMA_DIR) -> Path:
    return folder / "history" / f"{model.namespace}.{model.__name__}"


def check_model(model: type, folder: Path = SCHEMA_DIR) -> list[str]:
    current = schema_for(model)
    path = schema_path(model, folder)
    problems = []
    if not path.exists() or path.read_text() != render(current):
        problems.append(f"{path.name} is stale: run `handoff schemas write`")
    for old_path in sorted(history_dir(model, folder).glob("*.avsc")):
        for error in full_errors(current, json.loads(old_path.read_text())):
            problems.append(f"{model.__name__} vs {old_path.name}: {error}")
    return problems


def adopt_history(model: type, folder: Path = SCHEMA_DIR) -> None:
    """A renamed record takes over its old name's history and last schema, in order."""
    for old in getattr(model, "renamed_from", ()):
        old_path = folder / f"{model.namespace}.{old}.avsc"
        if not old_path.exists():
            continue
        history = history_dir(model, folder)
        history.mkdir(parents=True, exist_ok=True)
        old_history = folder / "history" / f"{model.namespace}.{old}"
        for version in [*sorted(old_history.glob("*.avsc")), old_path]:
            n = len(list(history.glob("*.avsc"))) + 1
            version.rename(history / f"v{n:04d}.avsc")
        if old_history.is_dir():
            old_history.rmdir()


@cli.command()
def write() -> None:
    """Regenerate the .avsc files; keep the previous version of any that changed."""
    for model in topic_records():
        adopt_history(model)
        path, text = schema_path(model), render(schema_for(model))
        if path.exists() and path.read_text() != text:
            history = history_dir(model)
            history.mkdir(parents=True, exist_ok=True)
            n = len(list(history.glob("*.avsc"))) + 1
            (history / f"v{n:04d}.avsc").write_text(path.read_text())
        path.write_text(text)
        typer.echo(f"wrote {path.relative_to(SCHEMA_DIR.parent.parent)}")


@cli.command()
def check() -> None:
    """Fail if a schema file is stale or breaks full transitive compatibility."""
    from handoff.errors import EXIT_CHECK_FAILED, CliError

    problems = [p for model in topic_records() for p in check_model(model)]
    stray = SCHEMA_DIR.parent.parent / "schemas"  # the old home, brought back by a merge
    if stray.is_dir() and (stray.parent / "pyproject.toml").exists():
        problems.append(f"{stray} exists: schemas live in pipeline/schemas (package data); move its files there")
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise CliError(f"{len(problems)} schema problem(s)", EXIT_CHECK_FAILED)
    typer.echo("schemas: current and fully compatible with their history")
