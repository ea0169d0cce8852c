"""`handoff config validate | diff | apply` as a person runs them (the installed console script in a
subprocess, SQLite): a version that fails validate is refused in one line and nothing is installed;
apply needs an admin account, installs the next version and audits it; diff says what changed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.audit.sink import audit_codec
from pipeline.config import versions
from pipeline.storage import open_store
from tests.support import config_changes as known

HANDOFF = str(Path(sys.executable).parent / "handoff")
PASSWORD = "a long test password 42"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("config")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}")
    for name, role in (("admin-1", "admin"), ("lead-1", "programme-lead")):
        done = subprocess.run([HANDOFF, "users", "add", name, "--role", role, "--password-stdin"], env=env,
                              input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    return env


def handoff(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([HANDOFF, "config", *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


def _admin_records(env) -> list:
    """The config audit records stored (admin kind, action config-*)."""
    with open_store(env["HANDOFF_STORAGE__URL"]) as store, store.transaction() as tx:
        rows = tx.fetchall("SELECT body FROM audit_record WHERE kind = 'admin' ORDER BY inserted_at")
    events = [audit_codec().decode(row["body"]) for row in rows]
    return [e for e in events if e.detail.get("action", "").startswith("config-")]


def test_a_version_that_fails_validate_cannot_be_applied(env, tmp_path):
    bad = known.rules_change(tmp_path, keep_case=True)
    checked = handoff(env, "validate", "rules", bad)  # the message names the rule and its case
    assert checked.returncode == 1
    assert "error: rule C-SUBSTANCE-DISORDER does not fire on its fire case 1" in checked.stdout
    applied = handoff(env, "apply", "rules", bad, "--user", "admin-1")
    assert applied.returncode == 1 and "Traceback" not in applied.stderr
    assert applied.stderr.strip().splitlines() == [
        "handoff: detection rules not installed: rule C-SUBSTANCE-DISORDER does not fire on its fire case 1"]
    with open_store(env["HANDOFF_STORAGE__URL"]) as store:
        assert versions.heads(store) == {}
    [refused] = _admin_records(env)
    assert refused.outcome == "failure" and refused.detail["action"] == "config-apply"
    assert refused.actor == "user:admin-1" and "does not fire" in refused.detail["refused"]


def test_apply_needs_an_admin_and_installs_the_next_version(env, tmp_path):
    good = known.routing_change(tmp_path)
    assert handoff(env, "validate", "routing", good).returncode == 0
    refused = handoff(env, "apply", "routing", good, "--user", "lead-1")
    assert refused.returncode == 2 and "needs the admin role" in refused.stderr
    diff = handoff(env, "diff", "routing", good)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines()[1:] == [
        "routing: routing-2 -> routing-test-3",
        "Need N-SUBSTANCE now asks for peer-recovery, sud-treatment (was sud-treatment)",
        "Eligibility 'adults' is now {'min_age': 21} (was {'min_age': 18})"]
    done = handoff(env, "apply", "routing", good, "--user", "admin-1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("installed routing routing-test-3 as #1 (was routing-2)")
    again = handoff(env, "apply", "routing", good, "--user", "admin-1")
    assert "in force already: nothing installed" in again.stdout
    with open_store(env["HANDOFF_STORAGE__URL"]) as store:
        assert versions.heads(store) == {"routing": 1}
        assert versions.active(store, "routing").installed_by == "admin-1"
    installed = _admin_records(env)[-1]
    assert installed.outcome == "success" and installed.actor == "user:admin-1"
    assert installed.detail["version"] == "routing-test-3" and installed.detail["previous"] == "routing-2"
