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


def test_what_a_part2_recipient_reported_is_withheld_without_a_basis(db):
    """A Part 2 programme's acceptance is its own Part 2 record: the outreach account (the programme
    'demo', no consent naming it) sees Handoff's own steps and 'withheld' for the provider's;
    a privacy officer sees it; a Part 2 consent naming the programme lets outreach see it too."""
    from pipeline import records as r
    from pipeline.consent import Registry
    from pipeline.vocab import ConsentKind, ConsentStatus, DataCategory, Purpose
    from tests.unit.track.test_track_store import PERSON

    with open_store(f"sqlite:///{db}") as store:
        store.migrate()
        with store.transaction(immediate=True) as tx:  # sent to the Part 2 programme, for programme 'demo'
            tx.execute("UPDATE referral_state SET recipient_id = 'org-harbor-recovery', programme = 'demo'"
                       " WHERE referral_id = 'ref-1'")
        apply_status(store, status(S.ACCEPTED, Src.PROVIDER, T0 + timedelta(hours=3), n=3,
                                   recipient_id="org-harbor-recovery"), None, T0)
    made = subprocess.run([HANDOFF, "users", "add", "pat", "--role", "privacy-officer", "--password-stdin"],
                          input="a-long-enough-password\n", capture_output=True, text=True, timeout=60,
                          env=os.environ | {"HANDOFF_STORAGE__URL": f"sqlite:///{db}", "HANDOFF_ENVIRONMENT": "test"})
    assert made.returncode == 0, made.stderr

    outreach = run(["referrals", "show", "ref-1"], db)
    assert outreach.returncode == 0, outreach.stderr
    assert "ref-1: withheld" in outreach.stdout and "-> withheld" in outreach.stdout
    assert "new -> requested" in outreach.stdout  # Handoff's own sending stays visible
    assert "requested -> withheld  by provider withheld" in outreach.stdout
    assert "withheld" in run(["referrals", "list"], db).stdout
    officer = run(["referrals", "show", "ref-1", "--user", "pat"], db)
    assert "ref-1: accepted" in officer.stdout and "withheld" not in officer.stdout

    with open_store(f"sqlite:///{db}") as store:
        Registry(store).put(PERSON, r.ConsentRecord(
            consent_id="c-1", kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=["demo"],
            purposes=[Purpose.CARE_COORDINATION], data_categories=list(DataCategory), signed_at=T0,
            artefact_ref="doc:1", period_end=T0 + timedelta(days=365)), T0, "user:pat")
    consented = run(["referrals", "show", "ref-1"], db)
    assert "ref-1: accepted" in consented.stdout and "withheld" not in consented.stdout, consented.stdout
