"""A generated month with known counts: the report shows every count it may, hides every small
one, and nothing hidden can be recovered from what it publishes (both attackers of test_suppress)."""
from __future__ import annotations

import csv
import io

from pipeline.report import tables
from pipeline.report.store import month_rows
from tests.unit.report import month
from tests.unit.report.test_suppress import grid_of, linear_and_interval, published_correctly

TRUTH = {"calls": month.CALLS, "referrals": month.REFERRALS, "holds": month.HOLDS}


def test_a_generated_month(migrated):
    month.write(migrated)
    month.write(migrated, area="53061", seed=7)  # a second area: the all-areas report doubles
    report = tables.build(month.MONTH, "53033", month_rows(migrated, month.MONTH, "53033"))
    for name, truth in TRUTH.items():
        pub = report.tables[name]
        published_correctly(truth, pub, 11)
        assert linear_and_interval(pub, cap=10_000) == set(), name
        hidden = [e for e, v in grid_of(pub).items() if v is None]
        assert hidden, f"{name} has small counts: something must be hidden"
    calls = report.tables["calls"]
    assert calls.total == 173 and calls.row_totals[0] == 80  # ems-led: 40 + 3 + 12 + 25
    assert calls.cells[0][1] is None and calls.cells[3] == [0, 0, 0, 0, 0]
    referrals = report.tables["referrals"]
    assert referrals.row_totals[0] == 55 and referrals.cells[0][3] == 20  # made; completed
    ems = report.contact["ems-led"]
    assert (ems.median_hours, ems.p90_hours) == (16.5, 29.0)
    assert report.contact["self"].median_hours is None  # 3 contacted: under 11, not shown

    both = tables.build(month.MONTH, None, month_rows(migrated, month.MONTH))
    assert both.tables["calls"].total == 2 * 173 + 2  # each write adds one call in "other-area"
    assert both.tables["referrals"].row_totals[0] == 2 * 55


def test_csv_and_text(migrated):
    month.write(migrated)
    report = tables.build(month.MONTH, "53033", month_rows(migrated, month.MONTH, "53033"))
    rows = list(csv.DictReader(io.StringIO(tables.to_csv(report))))
    cell = next(r for r in rows if r["table"] == "calls" and r["row"] == "ems-led" and r["column"] == "overdose")
    assert cell["count"] == "suppressed"
    total = next(r for r in rows if r["table"] == "calls" and r["row"] == "total" and r["column"] == "total")
    assert total["count"] == "173"
    assert "ems-led" in tables.to_text(report) and "*" in tables.to_text(report)
