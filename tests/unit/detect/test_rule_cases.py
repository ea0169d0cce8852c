"""Every rule's own table of cases that must and must not fire (kept beside the rule in YAML)."""
from __future__ import annotations

import pytest

from pipeline.detect import load_rules
from pipeline.detect.cases import failing_cases, fired

RULES = load_rules()
CASES = [(rule, expect, case)
         for rule in RULES.all_rules()
         for expect in ("fire", "not_fire")
         for case in rule.cases.get(expect, [])]


def test_every_rule_has_cases_both_ways():
    missing = [r.id for r in RULES.all_rules() if not r.cases.get("fire") or not r.cases.get("not_fire")]
    assert missing == []


@pytest.mark.parametrize("rule,expect,case", CASES, ids=[f"{c[0].id}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_rule_case(rule, expect, case):
    assert fired(rule, case, RULES) == (expect == "fire"), \
        f"{rule.id} {'did not fire' if expect == 'fire' else 'fired'} on {case!r}"


def test_the_validator_reads_the_cases_the_same_way():
    assert failing_cases(RULES) == []
