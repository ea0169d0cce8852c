"""Policy tests as data: the shipped cases pass through the installed `handoff` console script,
and a changed policy that breaks a shipped case fails."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.consent.policy import SAMPLE_POLICY, load_policy
from pipeline.consent.policytest import CaseError, load_cases, run_case
from tests.unit.test_command_line import handoff

SHIPPED = SAMPLE_POLICY.parent / "policy-tests.yaml"
IL_POLICY, IL_TESTS = SAMPLE_POLICY.parent / "states" / "il.yaml", SAMPLE_POLICY.parent / "states" / "il-tests.yaml"


def test_the_shipped_policy_tests_pass_through_the_console_script():
    done = handoff("policy", "test", str(SHIPPED), "--policy", str(SAMPLE_POLICY))
    lines = done.stdout.splitlines()
    cases = yaml.safe_load(SHIPPED.read_text())["cases"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lines) == len(cases) + 1 and all(line.startswith("pass  ") for line in lines[:-1])
    assert lines[-1] == f"{len(cases)} passed, 0 failed (policy {load_policy().version}, policy-tests.yaml)"
    assert "pass  ems-to-moud-clinic-for-treatment: permit full basis=hipaa-treatment:" in done.stdout


def test_the_shipped_cases_cover_every_rule_of_the_policy():
    policy = load_policy()
    results = [run_case(case, policy) for case in load_cases(SHIPPED, policy)]
    fired = {rule for res in results for reason in res.decision.reasons[:1] if " under rule " in reason
             for rule in reason.split(" under rule ")[1].split(" permits")[0].split(", ")}
    assert fired == {rule.id for rule in policy.rules}
    assert {res.decision.outcome.value for res in results} == {"permit", "permit-redacted", "hold", "deny"}


def test_a_changed_policy_that_breaks_a_shipped_case_fails(tmp_path: Path):
    data = yaml.safe_load(SAMPLE_POLICY.read_text())
    rule = next(x for x in data["rules"] if x["id"] == "covered-entity-to-non-provider")
    rule["permit"].append({"basis": "part2-consent", "variant": "full"})  # the error item 4 corrected
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data))
    done = handoff("policy", "test", str(SHIPPED), "--policy", str(changed))
    failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    total = len(yaml.safe_load(SHIPPED.read_text())["cases"])
    assert done.returncode == 1 and done.stderr == f"handoff: 1 of {total} policy tests failed\n"
    assert [line.split(":")[0] for line in failing] == ["FAIL  ems-to-housing-with-only-a-part2-consent-holds"]
    assert "expected outcome 'hold', got 'permit'" in failing[0] and done.stdout.rstrip().endswith(
        f"1 failed (policy {load_policy().version}, policy-tests.yaml)")


def test_the_illinois_layer_and_its_cases():
    done = handoff("policy", "test", "-q", str(IL_TESTS), "--policy", str(IL_POLICY))
    assert done.returncode == 0 and done.stdout.startswith(f"7 passed, 0 failed (policy {load_policy().version}+il-")
    assert handoff("policy", "test", "-q", str(IL_TESTS), "--policy", str(SAMPLE_POLICY)).returncode == 1


def test_a_bad_case_file_is_one_line_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases:\n  - {name: typo, source: covered-entity, recipient: {type: health-care-provider},"
                   " service: sud-treatment, purpose: treatment, data: [general], expect: {outcome: permit}}\n")
    done = handoff("policy", "test", str(bad))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "handoff: typo: data: the policy reads this request as [general, sud] (the service sud-treatment reveals sud)"]


@pytest.mark.parametrize("mutation, message", [
    ({"purpose": "lunch"}, "purpose: 'lunch' is not one of"),
    ({"consents": [{"kind": "part2", "recipients": ["everyone"]}]}, "recipient 'everyone' is not named"),
    ({"expect": {"outcome": "permit", "varient": "full"}}, "unknown key 'varient'"),
    ({"recipient": {"type": "hospital"}}, "recipient: needs `type`"),
])
def test_case_errors_name_the_case_and_the_field(mutation, message):
    case = {"name": "c", "source": "covered-entity", "recipient": {"type": "health-care-provider"},
            "service": "housing-social", "purpose": "treatment", "data": ["general"], "expect": {"outcome": "permit"}}
    path = Path(__file__).parent / "never-written.yaml"
    with pytest.raises(CaseError, match=message):
        from pipeline.consent.policytest import parse_case
        parse_case({**case, **mutation}, 0, load_policy())
    assert not path.exists()
