"""NEMSIS v3.5.1 EMSDataSet bytes → one `EmsRun` per PatientCareReport, or refusals.

Identity and versions (see connectors/common.py for the scheme):
- record id: the PatientCareReport `@UUID` (required by the XSD, kept by the ePCR software
  across amendments), else eRecord.01 (the PCR number);
- source system: `nemsis:<agency id>` (eResponse.01, else dAgency.02 of the header);
- version: the latest date-time inside the PCR, as Unix seconds. NEMSIS carries no record
  modification time; an amendment usually adds a later time (destination, back in
  service, a late medication), and when it does not, the content digest still makes it a
  new event while an exact resend repeats the event id;
- key: (the agency's dispatch centre from `ctx.dispatch_centre_for`, eResponse.03). When
  eResponse.03 is a not-value the PCR is keyed `pcr-<record id>` (it can still be
  detected, it cannot meet its CAD incident) and a finding says so.
- occurred_at: eTimes.01 (PSAP call), else the earliest time in the PCR.
"""
from __future__ import annotations

from lxml import etree
from pydantic import ValidationError

from connectors.common import (
    ParseContext, ParseResult, Parsed, Refused, draft_envelope, invalid_fields, seal, version_of,
)
from connectors.nemsis import pcr as f
from connectors.nemsis.xsd import validate
from connectors.safexml import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, UnsafeXml, local, parse_xml
from pipeline.records import EmsRun, IncidentKey

NEMSIS_NS = "http://www.nemsis.org"


def parse_emsdataset(data: bytes, ctx: ParseContext, *, max_bytes: int = DEFAULT_MAX_BYTES,
                     max_depth: int = DEFAULT_MAX_DEPTH) -> list[ParseResult]:
    try:
        root = parse_xml(data, max_bytes=max_bytes, max_depth=max_depth)
    except UnsafeXml as refused:
        return [Refused(None, refused.reason)]
    if root.tag != f"{{{NEMSIS_NS}}}EMSDataSet":
        return [Refused(None, f"root element is {local(root.tag) or 'unknown'!r}, not a NEMSIS EMSDataSet")]
    if ctx.xsd_path is not None:
        try:
            errors = validate(root, ctx.xsd_path)
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError):
            return [Refused(None, "the configured NEMSIS XSD could not be loaded")]
        if errors:
            return [Refused(None, f"document fails NEMSIS XSD validation ({len(errors)} first errors in detail)",
                            errors)]
    results: list[ParseResult] = []
    for header in root.iterchildren(f"{{{NEMSIS_NS}}}Header"):
        demographic = header.find(f"{{{NEMSIS_NS}}}DemographicGroup")
        header_agency = f.text(f.index(demographic), "dAgency.02") if demographic is not None else ""
        for report in header.iterchildren(f"{{{NEMSIS_NS}}}PatientCareReport"):
            results.append(_one(report, header_agency, ctx))
    if not results:
        return [Refused(None, "document has no PatientCareReport")]
    return results


def _one(report: etree._Element, header_agency: str, ctx: ParseContext) -> ParseResult:
    idx = f.index(report)
    pcr_uuid = (report.get("UUID") or "").strip()
    pcr_number = f.text(idx, "eRecord.01")
    record_id = pcr_uuid or pcr_number
    where = (f"PatientCareReport at line {report.sourceline}",)
    if not record_id:
        return Refused(None, "PatientCareReport has neither a UUID nor eRecord.01", where)
    agency_id = f.text(idx, "eResponse.01") or header_agency
    if not agency_id:
        return Refused(record_id, "PatientCareReport has no agency id (eResponse.01, dAgency.02)", where)
    try:
        return Parsed(_run(report, idx, record_id, pcr_uuid, pcr_number or record_id, agency_id, ctx))
    except ValidationError as error:
        return Refused(record_id, "PatientCareReport does not fit the EMS-run record", invalid_fields(error) + where)


def _run(report: etree._Element, idx: f.Index, record_id: str, pcr_uuid: str, pcr_number: str,
         agency_id: str, ctx: ParseContext) -> EmsRun:
    findings, all_times = f.scan(report)
    incident = f.text(idx, "eResponse.03")
    if not incident:
        nv = f.coded(idx, "eResponse.03").nil
        findings.append(f"eResponse.03: no incident number (not-value {nv or 'absent'}); keyed by the PCR")
        incident = f"pcr-{record_id}"
    key = IncidentKey(dispatch_centre=ctx.dispatch_centre_for(agency_id), incident_number=incident)
    age, age_units = f.age(idx)
    times = f.times(idx)
    draft = EmsRun(
        envelope=draft_envelope(record_id), key=key, agency_id=agency_id,
        agency_name=f.text(idx, "eResponse.02"), pcr_number=pcr_number, pcr_uuid=pcr_uuid,
        type_of_service=f.coded(idx, "eResponse.05"), dispatch_reason=f.coded(idx, "eDispatch.01"),
        emd_determinant=f.text(idx, "eDispatch.03"), times=times, patient=f.patient(idx),
        age=age, age_units=age_units, scene=f.scene(idx),
        primary_symptom=f.coded(idx, "eSituation.09"), other_symptoms=f.coded_all(idx, "eSituation.10"),
        primary_impression=f.coded(idx, "eSituation.11"),
        secondary_impressions=f.coded_all(idx, "eSituation.12"),
        situation_acuity=f.coded(idx, "eSituation.13"), injury_causes=f.coded_all(idx, "eInjury.01"),
        alcohol_drug_indicators=f.coded_all(idx, "eHistory.17"),
        protocols=f.coded_all(idx, "eProtocols.01"), medications=f.medications(idx),
        procedures=f.procedures(idx), disposition=f.disposition(idx),
        arrest_outcome=f.coded(idx, "eArrest.18"), narrative=f.narrative(idx),
        custom_results=f.custom_results(idx), findings=findings,
    )
    occurred = times.psap_call or (min(all_times) if all_times else None)
    return seal(draft, source_system=f"nemsis:{agency_id}", record_id=record_id,
                version=version_of(all_times), occurred_at=occurred, key=key, ctx=ctx)
