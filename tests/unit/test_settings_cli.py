"""Settings from the environment, and the CLI's one-line errors and exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_nested_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HANDOFF_KAFKA__TOPIC_PREFIX", "site-a")
    monkeypatch.setenv("HANDOFF_INGEST__AGENCY_DISPATCH_CENTRE", '{"ems-012": "psap-north"}')
    monkeypatch.setenv("HANDOFF_SECURITY__LINKAGE_KEYS", '{"1": "old-key-0123456789abcdef", "2": "new-key-0123456789abcdef"}')
    settings = Settings()
    assert settings.kafka.topic_prefix == "site-a"
    assert settings.dispatch_centre_for("ems-012") == "psap-north"
    assert settings.dispatch_centre_for("ems-999") == settings.ingest.default_dispatch_centre
    assert max(settings.security.linkage_keys) == 2
    assert "new-key" not in repr(settings)  # secrets stay secret


def test_placeholder_secrets_are_refused_outside_development(monkeypatch):
    monkeypatch.setenv("HANDOFF_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="placeholder or short secrets"):
        Settings()
    monkeypatch.setenv("HANDOFF_SECURITY__LINKAGE_KEYS", '{"1": "a-real-key-0123456789abcdef"}')
    monkeypatch.setenv("HANDOFF_SECURITY__AUDIT_SIGNING_KEY", "another-real-key-0123456789")
    assert Settings().environment == "production"


def test_unknown_settings_are_refused():
    with pytest.raises(ValidationError):
        Settings(kafka={"bootstrp": "x"})


def handoff(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")} | env
    return subprocess.run([str(Path(sys.executable).parent / "handoff"), *args], capture_output=True, text=True,
                          cwd=ROOT, env=environment, timeout=60)


def test_cli_errors_are_one_line_with_meaningful_exit_codes():
    done = handoff("topics", "create")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("handoff: no broker")
    unreachable = handoff("topics", "create", "--bootstrap", "127.0.0.1:1")
    assert unreachable.returncode == 3 and unreachable.stderr.startswith("handoff: cannot create topics")
    config = handoff("topics", "list", HANDOFF_ENVIRONMENT="production")
    assert config.returncode == 4 and "configuration" in config.stderr
    assert handoff("schemas", "check").returncode == 0
    assert handoff("--help").returncode == 0 and handoff("ingest", "--help").returncode == 0
