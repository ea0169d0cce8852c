"""The shadow comparison on the known input (tests/support/config_changes.py), without a broker:
each test change gives exactly the report its construction predicts."""
from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path

import pytest

from pipeline.config.bundle import load_bundle, read_bundle
from pipeline.config.current import configured
from pipeline.config.shadow import Inputs, compare, render_text
from pipeline.settings import Settings
from tests.support import config_changes as known

CHANGES = {"rules": known.rules_change, "routing": known.routing_change, "policy": known.policy_change}


@pytest.fixture(scope="module")
def current():
    settings = Settings(_env_file=None)
    return {kind: configured(kind, settings).value for kind in ("rules", "routing", "directory", "policy")}


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_each_change_reports_exactly_what_its_construction_predicts(kind, current, tmp_path):
    at = known.at_yesterday()
    new = load_bundle(read_bundle(kind, CHANGES[kind](tmp_path)))
    inputs = Inputs(runs=tuple(known.runs(at)), requests=tuple(known.requests(at)))
    report = compare(kind, current, {**current, kind: new}, inputs, timezone.utc, at - timedelta(days=1), at)
    got = sorted((c.what, c.category, c.area, c.case, c.person, c.before, c.after) for c in report.changes)
    assert got == known.expected(kind)
    assert report.read["ems.run"] == 15 and report.read["referral.request"] == 8
    text = render_text(report)
    assert f"{len(got)} change(s)" in text and all(case in text for _, _, _, case, *_ in got)


def test_no_change_reports_nothing(current):
    at = known.at_yesterday()
    inputs = Inputs(runs=tuple(known.runs(at)), requests=tuple(known.requests(at)))
    assert compare("rules", current, dict(current), inputs, timezone.utc, at, at).changes == []
