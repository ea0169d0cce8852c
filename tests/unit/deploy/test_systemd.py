"""deploy/systemd: the units pass `systemd-analyze verify` (with ExecStart pointed at this
venv's handoff, since /opt/handoff is where a site installs it) and run the real commands."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handoff.worker import stage_sets
from tests.support.deploy import assert_split

ROOT = Path(__file__).resolve().parents[3]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/handoff/bin/handoff"


def test_units_verify_and_run_the_split_worker_and_the_audit_seal(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    handoff = Path(sys.executable).parent / "handoff"
    commands = {}
    for unit in UNITS.iterdir():
        text = unit.read_text().replace(INSTALLED, str(handoff))
        names = [unit.name.replace("@.", f"@{s}.") for s in stage_sets()] if "@." in unit.name else [unit.name]
        for name in names:  # a template is verified as the instances the README enables
            instance = name.split("@")[1].split(".")[0] if "@" in name else ""
            (tmp_path / name).write_text(text)
            line = next((x for x in text.splitlines() if x.startswith("ExecStart=")), None)
            if line:
                commands[name] = line.split("=", 1)[1].replace(f"{handoff} ", "").replace("%i", instance).split()
    assert commands == {"handoff-worker@ingest.service": ["worker", "--stages", "ingest"],
                        "handoff-worker@referrals.service": ["worker", "--stages", "referrals"],
                        "handoff-audit-seal.service": ["audit", "seal", "--all"]}
    assert_split(list(commands.values()))
    for command in commands.values():  # the commands exist and parse their options
        done = subprocess.run([handoff, *command, "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60)
    warnings = [line for line in done.stderr.splitlines() if str(tmp_path) in line]  # e.g. "Unknown key ..."
    assert done.returncode == 0 and not warnings, done.stderr
    timer = (UNITS / "handoff-audit-seal.timer").read_text()
    assert "OnCalendar=hourly" in timer and "Persistent=true" in timer
