"""`handoff referrals list|show` through the installed console script: output, views audited, errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.storage import open_store
from pipeline.track import apply_status
from pipeline.track.deadlines import load_deadlines
from pipeline.vocab import ReferralState as S
from pipeline.vocab import StatusSource as Src
from tests.support.accounts import add_accounts
from tests.unit.track.test_track_store import T0, request, save_request, status

HANDOFF = shutil.which("handoff", path=str(Path(sys.executable).parent))


def run(args: list[str], db: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"HANDOFF_STORAGE__URL": f"sqlite:///{db}", "HANDOFF_ENVIRONMENT": "test",
                        "HANDOFF_USER": "casey"}
    return subprocess.run([HANDOFF, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "h.db"
    with open_store(f"sqlite:///{path}") as store:
        store.migrate()
        save_request(store, request())
        apply_status(store, status(S.REQUESTED, Src.DELIVERY, T0, recipient_id="clinic-a", request_id="req-1"),
                     load_deadlines(), T0)
        apply_status(store, status(S.REQUESTED, Src.DELIVERY, T0 + timedelta(hours=1), n=1), None, T0)
        apply_status(store, status(S.ACCEPTED, Src.DELIVERY, T0 + timedelta(hours=2), n=2), None, T0)
    add_accounts(path, (("casey", "outreach"), ("ops", "it-operator")))
    return path


def test_a_role_without_the_permission_sees_nothing(db):
    refused = run(["referrals", "list", "--user", "ops"], db)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr and "ref-1" not in refused.stdout
    assert views(db) == []


def views(db: Path) -> list[dict]:
    with open_store(f"sqlite:///{db}") as store, store.transaction() as tx:
        return tx.fetchall("SELECT kind, referral_id FROM audit_record WHERE kind = 'view'")


def test_list_and_show(db):
    listed = run(["referrals", "list"], db)
    assert listed.returncode == 0, listed.stderr
    assert "ref-1" in listed.stdout and "requested" in listed.stdout and "OVERDUE" in listed.stdout
    assert "ref-1" in run(["referrals", "list", "--overdue"], db).stdout
    assert "no referrals match" in run(["referrals", "list", "--state", "completed"], db).stdout
    shown = run(["referrals", "show", "ref-1"], db)
    assert shown.returncode == 0, shown.stderr
    assert "new -> requested" in shown.stdout and "(repeat)" in shown.stdout and "REFUSED" in shown.stdout
    assert "deadline accept" in shown.stdout
    assert len(views(db)) == 4  # every list and show is a view on record, before anything is shown
    assert {v["referral_id"] for v in views(db)} >= {"ref-1"}


def test_errors_are_one_line(db):
    missing = run(["referrals", "show", "ref-nope"], db)
    assert missing.returncode == 1 and missing.stderr.strip() == "handoff: no referral 'ref-nope'"
    bad = run(["referrals", "list", "--state", "bogus"], db)
    assert bad.returncode == 2 and "expected one of" in bad.stderr and "Traceback" not in bad.stderr
