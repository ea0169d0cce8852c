"""A generated month with known counts: the report shows every count it may, hides every small
one, and nothing hidden can be recovered from what it publishes (both attackers of test_suppress)."""
from __future__ import annotations

import csv
import io

from pipeline.report import tables
from pipeline.report.store import month_rows
from tests.unit.report import month
from pipeline.report.store import month_report
from tests.unit.report.test_suppress import attack, equations_of, grid_of, linear_and_interval, published_correctly

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



def joint_attack(areas: dict, combined, cap: int = 10_000) -> set:
    """Every area's published table and the all-areas one together: each area's line equations,
    the combined table's, and for each entry the areas' values summing to the combined value."""
    unknown, equations = [], []
    for tag, pub in [*areas.items(), ("all", combined)]:
        u, e = equations_of(pub, tag)
        unknown += u
        equations += e
    grids = {tag: grid_of(pub) for tag, pub in [*areas.items(), ("all", combined)]}
    for entry in grids["all"]:
        row, rhs = {}, 0
        for tag, coefficient in [*((a, 1) for a in areas), ("all", -1)]:
            value = grids[tag][entry]
            if value is None:
                row[(tag, entry)] = coefficient
            else:
                rhs -= coefficient * value
        if row:
            equations.append((row, rhs))
    return attack(unknown, equations, cap)


def test_the_all_areas_report_adds_nothing_a_reader_could_difference(migrated):
    month.write(migrated)
    month.write(migrated, area="53061", seed=7)
    areas = {a: month_report(migrated, month.MONTH, a) for a in ("53033", "53061", "other-area")}
    everything = month_report(migrated, month.MONTH)
    for name in ("calls", "referrals", "holds"):
        combined = everything.tables[name]
        assert joint_attack({a: r.tables[name] for a, r in areas.items()}, combined) == set(), name
        for e, value in grid_of(combined).items():  # each shown entry is the true sum
            if value is not None:
                assert value == sum(grid_of(r.tables[name])[e] for r in areas.values())
    # the attack is not vacuous: an all-areas table suppressed on its own gives hidden area cells away
    naive = tables.build(month.MONTH, None, month_rows(migrated, month.MONTH)).tables["calls"]
    assert ("53033", (0, 0)) in joint_attack({a: r.tables["calls"] for a, r in areas.items()}, naive)
    calls = everything.tables["calls"]
    assert calls.row_totals[0] is None  # ems-led: "other-area" has one such call, hidden there, so here
    assert calls.row_totals[1] == 2 * 32  # fire-led: both areas' shown totals, none in "other-area"
    assert calls.total is None  # "other-area" has a single call: its total is hidden, so is the sum
    by_area = everything.tables["areas"]
    assert by_area.rows == ["53033", "53061", "other-area"] and by_area.row_totals == [173, 173, None]
    assert everything.tables["referrals"].row_totals[0] == 2 * 55


def test_csv_and_text(migrated):
    month.write(migrated)
    report = tables.build(month.MONTH, "53033", month_rows(migrated, month.MONTH, "53033"))
    rows = list(csv.DictReader(io.StringIO(tables.to_csv(report))))
    cell = next(r for r in rows if r["table"] == "calls" and r["row"] == "ems-led" and r["column"] == "overdose")
    assert cell["count"] == "suppressed"
    total = next(r for r in rows if r["table"] == "calls" and r["row"] == "total" and r["column"] == "total")
    assert total["count"] == "173"
    assert "ems-led" in tables.to_text(report) and "*" in tables.to_text(report)
