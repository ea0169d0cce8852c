"""Every rule's own table of cases that must and must not fire (kept beside the rule in YAML)."""
from __future__ import annotations

import pytest

from pipeline.detect import classify_incident, classify_run, load_rules
from tests.unit.detect.helpers import incident_from, run_from

RULES = load_rules()
CASES = [(rule.id, rule.kind, expect, case)
         for rule in RULES.all_rules()
         for expect in ("fire", "not_fire")
         for case in rule.cases.get(expect, [])]


def _fired(kind: str, case) -> set[str]:
    if kind in ("call_type", "mpds"):
        detection = classify_incident(incident_from(case), RULES)
    else:
        detection = classify_run(run_from(case), RULES)
    return {e.rule_id for e in detection.evidence}


def test_every_rule_has_cases_both_ways():
    missing = [r.id for r in RULES.all_rules() if not r.cases.get("fire") or not r.cases.get("not_fire")]
    assert missing == []


@pytest.mark.parametrize("rule_id,kind,expect,case", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_rule_case(rule_id, kind, expect, case):
    fired = rule_id in _fired(kind, case)
    assert fired == (expect == "fire"), f"{rule_id} {'did not fire' if expect == 'fire' else 'fired'} on {case!r}"
