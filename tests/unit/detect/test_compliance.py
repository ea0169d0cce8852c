"""The NEMSIS 2025 compliance cases carry expected categories (DOMAIN.md §1)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.detect import classify_run, load_rules
from pipeline.vocab import Category

COMPLIANCE = Path(__file__).resolve().parents[4] / "shared" / "nemsis" / "v3.5.1" / "compliance"
pytestmark = pytest.mark.skipif(not COMPLIANCE.is_dir(), reason=f"../shared compliance cases absent ({COMPLIANCE})")
nemsis = pytest.importorskip("connectors.nemsis", reason="connectors.nemsis (the NEMSIS parser) is missing")

OD, OPI, SU, BH, SUI = (Category.OVERDOSE, Category.OPIOID_OVERDOSE, Category.SUBSTANCE_USE,
                        Category.BEHAVIORAL_HEALTH, Category.SUICIDE_RISK)
# Case 2 has only weak alcohol indicators (containers seen 3117001, bystander reports 3117017): by the
# issue-7 boundary the person's own use is not established, so it is not substance_use.
EXPECTED = {
    "2025-EMS-1-Overdose": ({OD, SU}, False),
    "2025-EMS-2-Suicide": ({SUI, BH}, True),
    "2025-EMS-3-MVC": (set(), False),
    "2025-EMS-4-eBike": (set(), False),
    "2025-EMS-5-CPMIH": (set(), False),
}


def _runs(path: Path):
    from connectors.common import ParseContext, Parsed

    ctx = ParseContext(received_at=datetime(2025, 3, 1, tzinfo=timezone.utc), sender="test", programme_id="test",
                       dispatch_centre_for=lambda agency: f"psap-{agency}")
    results = nemsis.parse_emsdataset(path.read_bytes(), ctx)
    assert results and all(isinstance(r, Parsed) for r in results)
    return [r.record for r in results]


@pytest.mark.parametrize("folder", ["full", "national"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_compliance_case_categories(folder, case):
    categories, died = EXPECTED[case]
    rules = load_rules()
    for run in _runs(COMPLIANCE / folder / f"{case}_v351.xml"):
        detection = classify_run(run, rules)
        assert set(detection.categories) == categories
        assert detection.patient_died is died
        assert OPI not in detection.categories  # case 1: no T40 code, no naloxone
