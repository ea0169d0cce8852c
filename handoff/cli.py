"""`handoff`: the command line. Subcommands live with their packages and are registered here.

Each package that has commands exposes `cli = typer.Typer(...)`; COMMANDS names them.
Errors print one line to stderr and exit with a meaningful code:
  1 a check failed (e.g. an audit chain is broken), 2 bad usage or input,
  3 a dependency is unavailable (broker, database), 4 a configuration error.
"""
from __future__ import annotations

import importlib
import sys

import typer

from handoff.errors import EXIT_CONFIG, EXIT_USAGE, CliError

# (command name, "module" holding a `cli` Typer group or command, or "module:function")
COMMANDS = [
    ("classify", "handoff.commands.detect:classify_cmd"),
    ("evaluate", "handoff.commands.detect:evaluate_cmd"),
    ("broker", "handoff.commands.broker"),
    ("topics", "handoff.commands.topics"),
    ("schemas", "handoff.commands.schemas"),
    ("run", "pipeline.run"),
    ("db", "handoff.commands.db"),
    ("audit", "handoff.commands.audit"),
    ("ingest", "handoff.commands.ingest"),
    ("serve", "handoff.commands.serve"),
    ("consent", "handoff.commands.consent"),
    ("refer", "handoff.commands.refer:refer_cmd"),
    ("referrals", "handoff.commands.referrals"),
]

app = typer.Typer(help="Handoff: warm handoffs from 911, EMS and deflection programmes to treatment.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

for _name, _target in COMMANDS:
    _module, _, _attr = _target.partition(":")
    _cli = getattr(importlib.import_module(_module), _attr or "cli")
    if isinstance(_cli, typer.Typer):
        app.add_typer(_cli, name=_name)
    else:
        app.command(_name)(_cli)


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection errors reach us as exceptions
    try:
        app(standalone_mode=False)
    except CliError as e:
        print(f"handoff: {e}", file=sys.stderr)
        sys.exit(e.code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("handoff: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # click usage errors and configuration errors
        import click
        from pydantic import ValidationError

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(EXIT_USAGE)
        if isinstance(e, ValidationError):
            print(f"handoff: configuration: {e.errors()[0]['msg']}", file=sys.stderr)
            sys.exit(EXIT_CONFIG)
        raise

