"""`handoff db migrate|status` against a real database, and its exit code when it is down."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from handoff.errors import EXIT_UNAVAILABLE, CliError
from handoff.commands.db import cli
from pipeline.storage.migrate import load


def invoke(args: list[str], url: str):
    return CliRunner().invoke(cli, args, env={"HANDOFF_STORAGE__URL": url, "HANDOFF_ENVIRONMENT": "test"})


def test_migrate_then_status(url: str) -> None:
    migrations = load("sqlite")  # later issues add migrations; their numbers need not be contiguous
    latest = max(m.version for m in migrations)
    first = invoke(["migrate"], url)
    assert first.exit_code == 0, first.output
    assert "applied 0001" in first.output
    assert f"at version {latest:04d} ({len(migrations)} applied now)" in first.output
    again = invoke(["migrate"], url)
    assert "applied 0001" not in again.output and "(0 applied now)" in again.output
    status = invoke(["status"], url)
    assert status.exit_code == 0
    assert "0001_base: applied 20" in status.output


def test_status_shows_pending_before_migrate(url: str) -> None:
    result = invoke(["status"], url)
    assert result.exit_code == 0 and "0001_base: pending" in result.output


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_unavailable_database_is_exit_code_3_without_password(command: str, closed_port: int) -> None:
    result = invoke([command], f"postgresql://handoff:secret-pw@127.0.0.1:{closed_port}/handoff")
    assert isinstance(result.exception, CliError)
    assert result.exception.code == EXIT_UNAVAILABLE == 3
    assert str(result.exception).startswith("database unavailable:")
    assert "secret-pw" not in str(result.exception)
