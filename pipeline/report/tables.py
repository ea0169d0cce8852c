"""A month's programme report from its de-identified facts (pure): every table a partition of one
population, by pathway, each suppressed on its own (pipeline/report/suppress.py).

- calls: recognised calls by their main category (the first of CATEGORY_ORDER they carry);
- referrals: referrals made by the furthest stage reached (the row total is referrals made;
  accepted = accepted + engaged + completed, and so on);
- holds: consent holds by how they ended;
- first contact: hours from a referral's creation to its first in-progress (or completed)
  status, median and 90th percentile by pathway, shown only where at least 11 referrals had one.

The tables share no totals (three populations), so suppressing each alone is enough within one
area's report. Areas are disjoint, so one area's report says nothing of another's. The report for
all areas is *derived* from the areas' published reports (`combine`): an entry is the sum of the
areas' entries and shown only when every one of them is shown. It therefore tells a reader nothing
the areas' reports did not, and no differencing between it and them can recover a hidden count.
It adds the table of calls by area (each area's published category totals). Time to first contact
is pooled over all areas' referrals (shown where at least 11 had a contact).
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.report.facts import PATHWAYS
from pipeline.report.suppress import THRESHOLD, Suppressed, suppress

CATEGORY_ORDER = ("opioid_overdose", "overdose", "suicide_risk", "behavioral_health", "substance_use")
STAGES = ("not accepted", "accepted", "engaged", "completed")
HOLD_ENDINGS = ("released", "expired", "cancelled", "still held")
CONTACT_STATES = frozenset({"in-progress", "completed"})
TABLES = {"calls": CATEGORY_ORDER, "referrals": STAGES, "holds": HOLD_ENDINGS}


@dataclass(frozen=True)
class Contact:
    """No count is published: the number contacted is engaged + completed in the referrals table,
    and publishing it would add an equation a reader could use against its suppressed cells."""

    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Report:
    month: str
    area: str | None
    tables: dict[str, Suppressed]
    contact: dict[str, Contact] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"month": self.month, "area": self.area, "threshold": THRESHOLD,
                "tables": {name: t.as_dict() for name, t in self.tables.items()},
                "first_contact": {p: vars(c) for p, c in self.contact.items()}}


def build(month: str, area: str | None, rows: dict[str, list[dict]]) -> Report:
    """The report from `pipeline.report.store.month_rows`."""
    calls = _count([(c["pathway"], main_category(c["categories"])) for c in rows["calls"]], CATEGORY_ORDER)
    reached = furthest(rows["history"])
    referrals = _count([(q["pathway"], reached.get(q["referral_id"], "not accepted")) for q in rows["referrals"]],
                       STAGES)
    holds = _count([(h["pathway"], hold_ending(h["status"], h["close_reason"])) for h in rows["holds"]],
                   HOLD_ENDINGS)
    counts = {"calls": calls, "referrals": referrals, "holds": holds}
    tables = {name: suppress(*_layout(name), counts[name]) for name in TABLES}
    return Report(month, area, tables, first_contact(rows["referrals"], rows["history"]))


def build_all(month: str, per_area: dict[str, dict[str, list[dict]]]) -> Report:
    """The all-areas report from each area's rows: every count derived from the areas' published
    reports, so that it reveals nothing they hide."""
    areas = {area: build(month, area, rows) for area, rows in sorted(per_area.items())}
    tables = {name: combine([r.tables[name] for r in areas.values()], *_layout(name)) for name in TABLES}
    names = list(areas)
    by_area = Suppressed(names, list(CATEGORY_ORDER),
                         [list(r.tables["calls"].column_totals) for r in areas.values()],
                         [r.tables["calls"].total for r in areas.values()],
                         list(tables["calls"].column_totals), tables["calls"].total)
    pooled = {key: [row for rows in per_area.values() for row in rows[key]] for key in ("referrals", "history")}
    return Report(month, None, {**tables, "areas": by_area}, first_contact(pooled["referrals"], pooled["history"]))


def combine(parts: list[Suppressed], rows: list[str], columns: list[str]) -> Suppressed:
    """The entrywise sum of published tables of the same shape, hidden wherever any part is hidden."""
    def total(values):
        return None if any(v is None for v in values) else sum(values)
    if not parts:
        return suppress(rows, columns, [[0] * len(columns) for _ in rows])
    return Suppressed(rows, columns,
                      [[total([p.cells[i][j] for p in parts]) for j in range(len(columns))] for i in range(len(rows))],
                      [total([p.row_totals[i] for p in parts]) for i in range(len(rows))],
                      [total([p.column_totals[j] for p in parts]) for j in range(len(columns))],
                      total([p.total for p in parts]))


def _layout(name: str) -> tuple[list[str], list[str]]:
    return list(PATHWAYS), list(TABLES[name])


def main_category(categories: str) -> str:
    found = set(categories.split(","))
    return next((c for c in CATEGORY_ORDER if c in found), CATEGORY_ORDER[-1])


def furthest(history: list[dict]) -> dict[str, str]:
    """Each referral's furthest stage from its applied status history."""
    states: dict[str, set[str]] = {}
    for h in history:
        states.setdefault(h["referral_id"], set()).add(h["to_state"])
    out = {}
    for referral, seen in states.items():
        out[referral] = ("completed" if "completed" in seen else "engaged" if "in-progress" in seen
                         else "accepted" if "accepted" in seen else "not accepted")
    return out


def hold_ending(status: str, reason: str | None) -> str:
    if status == "released":
        return "released"
    if status == "held":
        return "still held"
    return "expired" if reason and "expir" in reason.lower() else "cancelled"


def first_contact(referrals: list[dict], history: list[dict]) -> dict[str, Contact]:
    """Hours to first contact by pathway and overall; the figures only where n >= THRESHOLD."""
    first: dict[str, datetime] = {}
    for h in history:
        if h["to_state"] in CONTACT_STATES:
            at = datetime.fromisoformat(h["occurred_at"])
            first[h["referral_id"]] = min(first.get(h["referral_id"], at), at)
    hours: dict[str, list[float]] = {p: [] for p in (*PATHWAYS, "all")}
    for q in referrals:
        if q["referral_id"] in first and q["created_at"]:
            delta = (first[q["referral_id"]] - datetime.fromisoformat(q["created_at"])).total_seconds() / 3600
            hours[q["pathway"]].append(max(delta, 0.0))
            hours["all"].append(max(delta, 0.0))
    return {p: _summary(values) for p, values in hours.items()}


def _summary(values: list[float]) -> Contact:
    if len(values) < THRESHOLD:
        return Contact(None, None)
    ordered = sorted(values)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]  # nearest rank
    return Contact(round(statistics.median(ordered), 1), round(p90, 1))


def _count(pairs: list[tuple[str, str]], columns: tuple[str, ...]) -> list[list[int]]:
    table = [[0] * len(columns) for _ in PATHWAYS]
    for pathway, column in pairs:
        table[PATHWAYS.index(pathway)][columns.index(column)] += 1
    return table


def to_csv(report: Report) -> str:
    """Long form: table, row, column, count ('suppressed' where hidden); totals as row/column 'total'."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["month", "area", "table", "row", "column", "count"])
    label = lambda v: "suppressed" if v is None else v  # noqa: E731
    for name, t in report.tables.items():
        for i, row in enumerate(t.rows):
            for j, col in enumerate(t.columns):
                w.writerow([report.month, report.area or "all", name, row, col, label(t.cells[i][j])])
            w.writerow([report.month, report.area or "all", name, row, "total", label(t.row_totals[i])])
        for j, col in enumerate(t.columns):
            w.writerow([report.month, report.area or "all", name, "total", col, label(t.column_totals[j])])
        w.writerow([report.month, report.area or "all", name, "total", "total", label(t.total)])
    for pathway, c in report.contact.items():
        for measure, value in (("median_hours", c.median_hours), ("p90_hours", c.p90_hours)):
            w.writerow([report.month, report.area or "all", "first_contact", pathway, measure, label(value)])
    return out.getvalue()


def to_text(report: Report) -> str:
    lines = [f"Programme report {report.month}, area {report.area or 'all'} (counts under {THRESHOLD} hidden: *)"]
    show = lambda v: "*" if v is None else str(v)  # noqa: E731
    for name, t in report.tables.items():
        width = max(len(c) for c in (*t.columns, "total")) + 2
        lines += ["", name, " " * 15 + "".join(c.rjust(width) for c in (*t.columns, "total"))]
        for i, row in enumerate(t.rows):
            lines.append(row.ljust(15) + "".join(show(v).rjust(width) for v in (*t.cells[i], t.row_totals[i])))
        lines.append("total".ljust(15) + "".join(show(v).rjust(width) for v in (*t.column_totals, t.total)))
    lines += ["", "first contact (hours)    median    p90"]
    for pathway, c in report.contact.items():
        lines.append(f"{pathway:<24}{show(c.median_hours):>8}{show(c.p90_hours):>7}")
    return "\n".join(lines) + "\n"
