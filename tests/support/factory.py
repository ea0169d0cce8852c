"""Small builders of shared records for tests (synthetic people, fixed values)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from pipeline import records as r

T0 = datetime(2026, 3, 14, 2, 5, tzinfo=timezone.utc)


def envelope(record_id: str = "PCR-1", version: int = 1, system: str = "nemsis:ems-012") -> r.Envelope:
    return r.Envelope(event_id=f"{system}:{record_id}:v{version}", source_system=system,
                      source_record_id=record_id, source_record_version=version, occurred_at=T0,
                      ingested_at=T0, correlation_id=f"psap-north:INC-{record_id}", programme_id="demo")


def ems_run(pcr: str = "PCR-1", narrative: str = "Pt found unresponsive, narcan 4mg IN given, pt improved.",
            impression: str = "T40.1X1A", version: int = 1, **overrides) -> r.EmsRun:
    values = dict(
        envelope=envelope(pcr, version), key=r.IncidentKey(dispatch_centre="psap-north", incident_number=f"INC-{pcr}"),
        agency_id="ems-012", pcr_number=pcr, patient=r.Person(family="Testperson", given="Alex",
                                                              birth_date=date(1990, 5, 1), sex="M"),
        primary_impression=r.Coded(code=impression, system="ICD-10-CM"),
        medications=[r.Medication(drug=r.Coded(code="7242", system="RxNorm"), route="9927017", response="9916001")],
        disposition=r.EmsDisposition(unit_disposition=r.Coded(code="4227001")),
        narrative=narrative)
    values.update(overrides)
    return r.EmsRun(**values)


def at_version(record, version: int, **update):
    """The same source record at another version (the envelope carries it), with other changes."""
    envelope = record.envelope.model_copy(update={"source_record_version": version})
    return record.model_copy(update={"envelope": envelope, **update})
