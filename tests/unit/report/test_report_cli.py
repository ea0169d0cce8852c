"""`handoff report` through the installed console script on a generated month: the tables with
small cells suppressed, CSV, the view audited, and one-line errors."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.storage import open_store
from tests.support.accounts import add_accounts
from tests.unit.report import month

HANDOFF = shutil.which("handoff", path=str(Path(sys.executable).parent))


def run(args: list[str], db: Path, user: str = "lee") -> subprocess.CompletedProcess:
    env = os.environ | {"HANDOFF_STORAGE__URL": f"sqlite:///{db}", "HANDOFF_ENVIRONMENT": "test",
                        "HANDOFF_USER": user}
    return subprocess.run([HANDOFF, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "h.db"
    with open_store(f"sqlite:///{path}") as store:
        store.migrate()
        month.write(store)
    add_accounts(path, (("lee", "programme-lead"), ("ops", "it-operator")))
    return path


def test_the_month_as_csv_and_text(db):
    done = run(["report", "--month", month.MONTH, "--area", "53033", "--csv"], db)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    by = {(r["table"], r["row"], r["column"]): r["count"] for r in rows}
    assert by[("calls", "total", "total")] == "173" and by[("calls", "fire-led", "opioid_overdose")] == "14"
    assert by[("calls", "ems-led", "total")] == "80"
    assert by[("calls", "ems-led", "overdose")] == "suppressed"  # 3
    assert all(v == "suppressed" or v == "0" or float(v) >= 11 for (t, _, c), v in by.items() if t != "first_contact")
    assert by[("first_contact", "ems-led", "median_hours")] == "16.5"
    text = run(["report", "--month", month.MONTH], db)
    assert text.returncode == 0 and "calls" in text.stdout and "*" in text.stdout
    as_json = json.loads(run(["report", "--month", month.MONTH, "--json"], db).stdout)
    assert as_json["tables"]["calls"]["total"] == 174  # and one call in another area
    with open_store(f"sqlite:///{db}") as store, store.transaction() as tx:
        views = tx.fetchall("SELECT body FROM audit_record WHERE kind = 'view'")
    assert len(views) >= 3 and all(b"user:lee" in bytes(v["body"]) for v in views)


@pytest.mark.parametrize("args, user, code, says", [
    (["report", "--month", "2026-13"], "lee", 2, "expected YYYY-MM"),
    (["report", "--month", "2026-03"], "ops", 2, "reports view needs"),
    (["surveillance", "export", "--format", "xml"], "lee", 2, "expected csv or json"),
    (["surveillance", "export"], "lee", 2, "surveillance view needs"),
])
def test_errors_are_one_line(db, args, user, code, says):
    done = run(args, db, user)
    assert done.returncode == code and says in done.stderr and "Traceback" not in done.stderr, done.stderr
