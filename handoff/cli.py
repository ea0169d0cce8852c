"""`handoff`: the command line. Each command group lives in handoff/commands/<name>.py and is registered here.

Each module exposes `cli = typer.Typer(...)` (or a command function); COMMANDS names them.
Every failure a person can act on is one line on stderr and an exit code (handoff/errors.py):
  1 a check failed, 2 bad usage, 3 a dependency is unavailable (broker, database),
  4 a configuration error, 5 input refused. A bug keeps its traceback.
"""
from __future__ import annotations

import importlib
import logging
import sys

import typer

from handoff.errors import EXIT_CONFIG, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, CliError

# (command name, "module" holding a `cli` Typer group or command, or "module:function")
COMMANDS = [
    ("classify", "handoff.commands.detect:classify_cmd"),
    ("evaluate", "handoff.commands.detect:evaluate_cmd"),
    ("broker", "handoff.commands.broker"),
    ("topics", "handoff.commands.topics"),
    ("schemas", "handoff.commands.schemas"),
    ("run", "handoff.demo"),
    ("worker", "handoff.worker"),
    ("topology", "handoff.commands.topology"),
    ("dlq", "handoff.commands.dlq"),
    ("db", "handoff.commands.db"),
    ("audit", "handoff.commands.audit"),
    ("ingest", "handoff.commands.ingest"),
    ("serve", "handoff.commands.serve"),
    ("consent", "handoff.commands.consent"),
    ("refer", "handoff.commands.refer:refer_cmd"),
    ("referrals", "handoff.commands.referrals"),
    ("users", "handoff.commands.users"),
    ("policy", "handoff.commands.policy"),
    ("outreach", "handoff.commands.outreach"),
    ("monitor", "handoff.commands.monitor"),
    ("tail", "handoff.commands.tail:tail_cmd"),
    ("report", "handoff.commands.report:report_cmd"),
    ("surveillance", "handoff.commands.report:surveillance"),
    ("config", "handoff.commands.config"),
]



def build(names: set[str] | None = None) -> typer.Typer:
    """The command tree; with `names`, only those commands' modules are imported (a command starts
    in the time its own imports take, not every command's)."""
    app = typer.Typer(help="Handoff: warm handoffs from 911, EMS and deflection programmes to treatment.",
                      no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(lambda: None)  # a group even when it holds one command
    for name, target in COMMANDS:
        if names is not None and name not in names:
            continue
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr or "cli")
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=name)
        else:
            app.command(name)(command)
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole tree, for tests and documentation tools
        return build()
    raise AttributeError(name)


def _chosen(argv: list[str]) -> set[str] | None:
    """The one command the arguments name, or None (help, or an unknown name: the whole tree answers)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return {first} if first in dict(COMMANDS) else None


def _configure_logging() -> None:
    """Text for a person at a terminal, or JSON lines (HANDOFF_LOG__FORMAT=json); a settings error
    is reported by the command itself, so logging falls back to text here."""
    from pipeline.logs import configure

    try:
        from pipeline.settings import Settings
        log = Settings().log
        configure(log.format, getattr(logging, log.level))
    except Exception:  # noqa: BLE001 - explained once the command reads its settings
        configure("text")


def main(argv: list[str] | None = None) -> None:
    """The console script: run one command, turn every failure a person can act on into one line and an exit code."""
    _configure_logging()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection errors reach us as exceptions
    try:
        args = sys.argv[1:] if argv is None else argv
        code = build(_chosen(args))(args=args, prog_name="handoff", standalone_mode=False)
    except BaseException as error:  # noqa: BLE001 - sorted below; anything not named is a bug and re-raised
        message, code = explain(error)
        if message is None:
            raise
        if message:
            print(message, file=sys.stderr)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def explain(error: BaseException) -> tuple[str | None, int]:
    """(the one line to print, the exit code) for a failure; (None, _) for a bug, which keeps its traceback."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from typer.exceptions import TyperException

    from pipeline.errors import classify
    from pipeline.settings import explain as explain_settings

    if isinstance(error, SystemExit):
        return "", error.code if isinstance(error.code, int) else EXIT_USAGE
    if isinstance(error, CliError):
        return f"handoff: {one_line(str(error))}", error.code
    if isinstance(error, typer.Exit):
        return "", error.exit_code
    if isinstance(error, (typer.Abort, KeyboardInterrupt)):
        return "handoff: interrupted", 130
    if isinstance(error, TyperException):  # typer's own click: usage errors (unknown command or option, ...)
        return usage_line(error), EXIT_USAGE
    if isinstance(error, OSError) and error.filename and not isinstance(error, ConnectionError):
        return f"handoff: cannot read {error.filename}: {error.strerror or type(error).__name__}", EXIT_USAGE
    if isinstance(error, SettingsError) or (isinstance(error, ValidationError) and error.title == "Settings"):
        return f"handoff: configuration: {explain_settings(error)}", EXIT_CONFIG
    if isinstance(error, Exception):
        failure = classify(error)
        if failure.transient and failure.dependency:
            return f"handoff: the {failure.dependency} is unavailable: {one_line(str(failure))}", EXIT_UNAVAILABLE
    return None, 1


def usage_line(error) -> str:
    """`handoff ingest nemsis: missing argument 'PATHS...' (handoff ingest nemsis --help)`."""
    ctx = getattr(error, "ctx", None)
    where = ctx.command_path if ctx is not None else "handoff"
    if type(error).__name__ == "NoArgsIsHelpError":  # a group called without a command
        command = getattr(ctx, "command", None)
        names = ", ".join(getattr(command, "commands", {}) or ())
        return f"{where}: no command given{'; one of: ' + names if names else ''} ({where} --help)"
    text = one_line(error.format_message())
    return f"{where}: {text[:1].lower() + text[1:]} ({where} --help)"


def one_line(text: str) -> str:
    return " ".join(text.split())
