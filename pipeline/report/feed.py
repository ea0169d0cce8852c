"""The overdose surveillance feed (pure): whether the policy lets a record go to public health,
the export's columns (ODMAP's fields), and the spike rule.

The disclosure rests on the policy (pipeline/consent/policy.yaml): a record goes on the feed only
where a rule permits its source role to disclose to a `public-health-authority` for the
`public-health` purpose (45 CFR 164.512(b) for a covered entity). A source the policy does not
cover (a Part 2 programme, an unknown sender) is left off and counted, never guessed.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.consent.policy import Policy
from pipeline.vocab import Purpose

PUBLIC_HEALTH_AUTHORITY = "public-health-authority"
COLUMNS = ("report_id", "occurred_at", "area", "grid_cell", "latitude", "longitude", "fatal", "naloxone_given",
           "naloxone_doses", "opioid", "pathway", "basis", "policy_version")
WINDOW = timedelta(hours=24)


def permitted(policy: Policy, source_role: str | None) -> list[str]:
    """The ids of the rules that let this source disclose to public health (empty: it may not)."""
    source = source_role or policy.default_source
    return [rule.id for rule in policy.rules_for(source, PUBLIC_HEALTH_AUTHORITY, Purpose.PUBLIC_HEALTH)]


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    return out.getvalue()


@dataclass(frozen=True)
class Spike:
    area: str
    window_end: datetime
    count: int
    threshold: int


def threshold_for(area: str, default: int, per_area: dict[str, int]) -> int:
    """The area's own threshold, else the default; 0 means no alert."""
    return per_area.get(area, default)


def spike(area: str, count: int, at: datetime, default: int, per_area: dict[str, int]) -> Spike | None:
    """A spike when the area's count in the 24 hours up to `at` exceeds its threshold."""
    limit = threshold_for(area, default, per_area)
    return Spike(area, at, count, limit) if limit and count > limit else None


def alert_body(found: Spike) -> dict:
    """What the webhook carries: the area, the window and the counts; nothing about anyone."""
    return {"kind": "overdose-spike", "area": found.area,
            "window_start": (found.window_end - WINDOW).isoformat(), "window_end": found.window_end.isoformat(),
            "count": found.count, "threshold": found.threshold}
