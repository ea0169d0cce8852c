"""classify-run when the run's stored version lives under another incident (found by the fault campaign)."""
from __future__ import annotations

from pipeline import records as r
from tests.support.factory import ems_run
from tests.unit.consent.test_field_flags import classify_run, ctx, deps


async def test_an_older_version_redelivered_under_another_incident_is_still_classified(tmp_path):
    """A redelivery after a restart: version 2 (incident A) is stored, version 1 (incident B)
    arrives again. It is not stored over the newer one, and it is classified on its own rather
    than failing with StopIteration (a dead letter, before)."""
    d = deps(tmp_path)
    newer = ems_run("PCR-V", version=2, key=r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-A"))
    older = ems_run("PCR-V", version=1, key=r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-B"))
    await classify_run(d, newer, ctx("classify-run", "ems.run"))
    result = await classify_run(d, older, ctx("classify-run", "ems.run"))
    [detection] = [o.value for o in result.outputs if o.topic == "detection"]
    assert detection.subject.record_id == "PCR-V" and detection.subject.version == 1
    d.store.close()
