"""The policy file: a Part 2 rule needs the 42 CFR 2.32 notice, so a policy without one does not load."""
from __future__ import annotations

import pytest
import yaml

from pipeline.consent.policy import SAMPLE_POLICY, PolicyError, parse_policy


@pytest.mark.parametrize("notice", [None, {}, {"text": ""}, {"text": "   \n  "}, {"text": None, "short": "2.32"}])
def test_a_policy_with_a_missing_or_blank_part2_notice_does_not_load(notice):
    data = yaml.safe_load(SAMPLE_POLICY.read_text())
    assert any(g["basis"].startswith("part2") for rule in data["rules"] for g in rule["permit"])
    if notice is None:
        data.pop("part2_notice")
    else:
        data["part2_notice"] = notice
    with pytest.raises(PolicyError, match="part2_notice.text is required"):
        parse_policy(data, "site.yaml")


def test_the_notice_loads_single_spaced():
    policy = parse_policy(yaml.safe_load(SAMPLE_POLICY.read_text()))
    assert policy.notice_text.startswith("This record which has been disclosed to you is protected")
    assert "  " not in policy.notice_text and "\n" not in policy.notice_text
