"""`handoff report` through the installed console script on a generated month: the tables with
small cells suppressed, CSV, the view audited, and one-line errors."""
from __future__ import annotations

import asyncio
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
from tests.unit.report.overdoses import cases, deps
from tests.unit.report.test_feed import feed_all, forbidden

CASES = cases()

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
        month.write(store, area="53061")  # the overdoses below are in 53033, the same month
        asyncio.run(feed_all(deps(store), CASES))
    add_accounts(path, (("lee", "programme-lead"), ("ops", "it-operator"), ("pat", "privacy-officer")))
    return path


def test_the_month_as_csv_and_text(db):
    done = run(["report", "--month", month.MONTH, "--area", "53061", "--csv"], db)
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
    areas = as_json["tables"]["areas"]  # the all-areas report: derived from each area's, hidden where they hide
    assert areas["rows"] == ["53033", "53061", "other-area"] and areas["row_totals"] == [24, 173, None]
    assert as_json["tables"]["calls"]["total"] is None  # "other-area" has one call
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


def test_the_feed_export_names_nobody_and_is_audited(db, tmp_path):
    as_csv = run(["surveillance", "export", "--since", "2026-03-01", "--until", "2026-04-01"], db, "pat")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == sum(c.overdose for c in CASES) == 24
    assert {r["fatal"] for r in rows} == {"True", "False"} and {r["area"] for r in rows} == {"53033"}
    out = tmp_path / "feed.json"
    as_json = run(["surveillance", "export", "--format", "json", "--out", str(out)], db, "pat")
    assert as_json.returncode == 0 and "24 overdose records" in as_json.stderr
    assert len(json.loads(out.read_text())) == 24
    text = (as_csv.stdout + out.read_text()).lower()
    assert {s for s in forbidden(CASES) if s.lower() in text} == set()
    with open_store(f"sqlite:///{db}") as store, store.transaction() as tx:
        views = [bytes(v["body"]) for v in tx.fetchall("SELECT body FROM audit_record WHERE kind = 'view'")]
    exports = [v for v in views if b"surveillance-export" in v]
    assert len(exports) == 2 and all(b"user:pat" in v and b"public-health" in v for v in exports)
