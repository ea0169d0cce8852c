"""Property tests of the gate over random timelines (timelines.py), and the broken gates caught."""
from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from pipeline.consent import decide
from tests.unit.consent.broken_gates import BROKEN
from tests.unit.consent.timelines import machine_for

CI_EXAMPLES = int(os.environ.get("HANDOFF_CONSENT_EXAMPLES", "1000"))
FAST = settings(max_examples=CI_EXAMPLES, stateful_step_count=12, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck), database=None)


def test_the_real_gate_never_permits_without_a_valid_basis_over_random_timelines(capsys):
    started = time.perf_counter()
    run_state_machine_as_test(machine_for(decide), settings=FAST)
    with capsys.disabled():
        print(f"\nconsent timelines: {CI_EXAMPLES} examples x <=12 steps in {time.perf_counter() - started:.1f}s")


@pytest.mark.long
def test_the_real_gate_over_many_long_timelines():
    run_state_machine_as_test(machine_for(decide), settings=settings(
        FAST, max_examples=20_000, stateful_step_count=40, derandomize=False))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_gate_is_caught(name):
    hunt = settings(FAST, max_examples=3000, phases=[Phase.generate], report_multiple_bugs=False)
    with pytest.raises((AssertionError, Flaky)) as caught:
        run_state_machine_as_test(machine_for(BROKEN[name]), settings=hunt)
    if isinstance(caught.value, AssertionError):
        assert "without a basis valid" in str(caught.value) or "consent basis" in str(caught.value)


def test_the_timelines_draw_complete_consents_that_permit():
    """The hunt above is only as good as its timelines: half the drawn consents are complete by the
    legal model's own check (`missing_elements`), so revocation and expiry reach real permits."""
    from hypothesis import given

    from pipeline.consent.decide import missing_elements
    from tests.unit.consent.timelines import T0, consents, record_of

    seen = []

    @given(consents(0))
    @settings(FAST, max_examples=200)
    def draw(spec):
        seen.append(not missing_elements(record_of(spec, T0)))

    draw()
    assert 0.3 < sum(seen) / len(seen) < 0.8, f"{sum(seen)} of {len(seen)} complete"
