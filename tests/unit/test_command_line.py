"""Settings from the environment, and the command line as a person meets it.

Every class of failure is tried through the installed `handoff` console script in a subprocess
(unit tests calling sub-commands in-process missed all of them): one line on stderr, no
traceback, the documented exit code (handoff/errors.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import json

import click
import pytest
import typer
from pydantic import ValidationError

from handoff.cli import app
from handoff.errors import EXIT_CONFIG, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from pipeline.settings import Settings
from tests.unit.connectors.hl7_gen import oru
from tests.unit.render.test_render_cli import concussion

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
                          cwd=ROOT, env=environment, timeout=120)


def one_line(done: subprocess.CompletedProcess, code: int) -> str:
    """The one line a failure printed on stderr, after checking the exit code and that nothing else was."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr.strip()


def test_cli_errors_are_one_line_with_meaningful_exit_codes():
    done = handoff("topics", "create")
    assert one_line(done, EXIT_USAGE).startswith("handoff: no broker")
    unreachable = handoff("topics", "create", "--bootstrap", "127.0.0.1:1")
    assert one_line(unreachable, EXIT_UNAVAILABLE).startswith("handoff: cannot create topics")
    config = handoff("topics", "list", HANDOFF_ENVIRONMENT="production")
    assert "configuration" in one_line(config, EXIT_CONFIG)
    assert handoff("schemas", "check").returncode == 0
    assert handoff("--help").returncode == 0 and handoff("ingest", "--help").returncode == 0


def test_usage_errors_are_one_line_and_exit_2():
    assert one_line(handoff("frobnicate"), EXIT_USAGE) == "handoff: no such command 'frobnicate'. (handoff --help)"
    bare = handoff()
    assert one_line(bare, EXIT_USAGE).startswith("handoff: no command given; one of: classify, evaluate,")
    assert "Usage: handoff" in bare.stdout  # the help, on stdout
    assert one_line(handoff("ingest", "nemsis"), EXIT_USAGE).startswith("handoff ingest nemsis: missing argument")
    assert one_line(handoff("run", "--bogus"), EXIT_USAGE) == "handoff run: no such option: --bogus (handoff run --help)"
    assert one_line(handoff("consent", "add", "nope.json"), EXIT_USAGE) == \
        "handoff: cannot read nope.json: No such file or directory"


def test_refusals_exit_5_after_doing_the_rest(tmp_path):
    bad, good = tmp_path / "bad.xml", tmp_path / "od.hl7"
    bad.write_text("<secret>Jane Doe overdosed</secret>")
    good.write_bytes(oru(1))
    classify = handoff("classify", str(bad), str(good))
    assert classify.returncode == EXIT_REFUSED and "Traceback" not in classify.stderr
    assert [json.loads(line)["record_id"] for line in classify.stdout.splitlines()] == ["MSG000001"]
    assert "bad.xml" in classify.stderr and "Jane" not in classify.stderr + classify.stdout
    assert "bad.xml" in one_line(handoff("refer", str(bad)), EXIT_REFUSED)
    assert one_line(handoff("classify", str(tmp_path / "absent.xml")), EXIT_REFUSED).endswith(
        "cannot read file (No such file or directory)")


def test_an_unreachable_broker_or_database_is_one_line_and_exit_3(tmp_path):
    pcr = tmp_path / "run.xml"
    pcr.write_text("<EMSDataSet/>")
    broker = {"HANDOFF_KAFKA__BOOTSTRAP": "127.0.0.1:1"}
    ingest = one_line(handoff("ingest", "nemsis", str(pcr), "--journal", str(tmp_path / "j"), **broker),
                      EXIT_UNAVAILABLE)
    assert ingest.startswith("handoff: the broker is unavailable")
    # (`handoff run` is the demo: it starts its own broker, whatever HANDOFF_KAFKA__BOOTSTRAP says)
    assert one_line(handoff("dlq", "list", **broker), EXIT_UNAVAILABLE).startswith("handoff: the broker is unavailable")
    database = {"HANDOFF_STORAGE__URL": "postgresql://handoff:sekret-password@127.0.0.1:1/handoff"}
    status = one_line(handoff("db", "status", **database), EXIT_UNAVAILABLE)
    assert "unavailable" in status and "127.0.0.1:1" in status and "sekret" not in status


def test_configuration_errors_name_the_variable_and_what_it_expects_never_the_value():
    port = one_line(handoff("topics", "list", HANDOFF_METRICS__PORT="abc"), EXIT_CONFIG)
    assert port.startswith("handoff: configuration: HANDOFF_METRICS__PORT: ") and "integer" in port
    keys = one_line(handoff("topics", "list", HANDOFF_SECURITY__LINKAGE_KEYS="{1:abc"), EXIT_CONFIG)
    assert "HANDOFF_SECURITY__LINKAGE_KEYS is not valid JSON" in keys and "expected a JSON object" in keys
    assert "abc" not in keys
    typo = one_line(handoff("topics", "list", HANDOFF_KAFKA__BOOTSTRP="127.0.0.1:9092"), EXIT_CONFIG)
    assert "HANDOFF_KAFKA__BOOTSTRP is not a setting (did you mean HANDOFF_KAFKA__BOOTSTRAP?)" in typo


def test_unknown_variables_are_warned_about_and_refused_in_production():
    warned = handoff("topics", "list", HANDOFF_ENVIRONEMNT="production")
    assert warned.returncode == 0 and "ems.run" in warned.stdout
    assert "unknown variable HANDOFF_ENVIRONEMNT (did you mean HANDOFF_ENVIRONMENT?)" in warned.stderr
    production = {"HANDOFF_ENVIRONMENT": "production", "HANDOFF_SECURITY__AUDIT_SIGNING_KEY": "s" * 32,
                  "HANDOFF_SECURITY__LINKAGE_KEYS": json.dumps({"1": "k" * 32})}
    assert handoff("topics", "list", **production).returncode == 0
    refused = one_line(handoff("topics", "list", HANDOFF_STORAGE_URL="x", **production), EXIT_CONFIG)
    assert "unknown variables in production: HANDOFF_STORAGE_URL (did you mean HANDOFF_STORAGE?)" in refused


def test_the_run_summary_never_shows_a_database_password():
    from handoff.demo import render_summary

    summary = dict.fromkeys(("events_in", "detections", "referral_requests", "holds", "deliveries",
                             "delivered_to_inbox", "status_events", "dead_letters"), 0)
    summary |= {"categories": {}, "audit_records": {}, "example_delivery": None}
    settings = Settings(storage={"url": "postgresql://handoff:sekret-password@db.example:5432/handoff"})
    text = render_summary(summary, settings, None)
    assert "postgresql://handoff:***@db.example:5432/handoff" in text and "sekret" not in text


def test_refer_says_why_a_record_opens_no_referral(tmp_path):
    from pipeline.route import SAMPLE_DIRECTORY

    head, died, od = tmp_path / "head.hl7", tmp_path / "died.hl7", tmp_path / "od.hl7"
    head.write_bytes(concussion())
    died.write_bytes(oru(2).replace(b"\rNTE|", b"\rOBX|11|CWE|eDisposition.19^Final acuity^NEMSIS||"
                                                b"4219007^Dead without resuscitation efforts^NEMSIS||||||F\rNTE|"))
    od.write_bytes(oru(1))
    bundle = json.loads(SAMPLE_DIRECTORY.read_text())
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "HealthcareService"]
    empty = tmp_path / "directory.json"
    empty.write_text(json.dumps(bundle))
    done = handoff("refer", str(head), str(died), str(od), "--directory", str(empty))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    lines = done.stderr.splitlines()
    assert "handoff refer: record PCR-000005: not recognised: no overdose, substance-use or behavioural-health " \
           "crisis found" in lines
    assert "handoff refer: record PCR-000002: the patient died: no referral (the detection stands for " \
           "surveillance)" in lines
    assert any(line.startswith("handoff refer: request req-") and line.endswith("no provider serves sud-treatment "
                                                                                 "in ZIP 06810") for line in lines)


def _walk(command: click.Command, path: str):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, f"{path} {name}")


def test_every_command_and_option_has_help():
    root = typer.main.get_command(app)
    missing = []
    for path, command in _walk(root, "handoff"):
        if not (command.help or command.short_help):
            missing.append(path)
        missing += [f"{path} {param.name}" for param in command.params
                    if not getattr(param, "help", None) and param.name != "help"]
    commands = [path for path, _ in _walk(root, "handoff")]
    assert len(commands) > 30 and "handoff ingest nemsis" in commands
    assert missing == [], f"commands or options without a help text: {missing}"
