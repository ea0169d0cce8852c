"""The campaign's EMS runs as their senders write them: a NEMSIS v3.5.1 EMSDataSet for the HTTP
intake (`POST /v1/nemsis`) and an HL7 v2.5.1 ORU^R01 carrying the ePCR for the MLLP listener, so
that the fault campaign's inputs pass the edges' parsers. Pure builders (no I/O), written here
from the standards' element ids; tests/chaos/test_wire.py shows that each parsed run is detected
exactly as the run it was written from (the campaign's oracle of expected referrals).
"""
from __future__ import annotations

from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

from pipeline import geo
from pipeline import records as r

RXNORM, SNOMED = "http://www.nlm.nih.gov/research/umls/rxnorm", "http://snomed.info/sct"
CODE_TYPE = {RXNORM: "9924003", SNOMED: "9924005"}
SEX_CODE = {"F": "9919001", "M": "9919003", "U": "9919005"}
YES = "9923003"
TIMES = {"psap_call": "eTimes.01", "unit_notified": "eTimes.03", "on_scene": "eTimes.06", "at_patient": "eTimes.07",
         "left_scene": "eTimes.09", "at_destination": "eTimes.11", "in_service": "eTimes.13"}
SINGLE = {"type_of_service": "eResponse.05", "dispatch_reason": "eDispatch.01", "primary_symptom": "eSituation.09",
          "primary_impression": "eSituation.11", "situation_acuity": "eSituation.13", "arrest_outcome": "eArrest.18"}
LISTS = {"other_symptoms": "eSituation.10", "secondary_impressions": "eSituation.12", "injury_causes": "eInjury.01",
         "alcohol_drug_indicators": "eHistory.17", "protocols": "eProtocols.01"}
DISPOSITION = {"unit_disposition": "eDisposition.27", "patient_evaluation_care": "eDisposition.28",
               "crew_disposition": "eDisposition.29", "transport_disposition": "eDisposition.30",
               "destination_type": "eDisposition.21", "final_acuity": "eDisposition.19"}
HL7_SYSTEM = {"http://hl7.org/fhir/sid/icd-10-cm": "I10", RXNORM: "RXNORM", SNOMED: "SCT"}


# ---------------------------------------------------------------- NEMSIS XML

def _el(name: str, value: str, **attrs: str) -> str:
    attributes = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items() if v)
    return f"<{name}{attributes}>{escape(value)}</{name}>"


def _coded(name: str, c: r.Coded) -> str:
    if not c.code and not c.nil and not c.pn:
        return ""
    attrs = {"PN": c.pn}
    if c.nil and not c.code:
        attrs.update({"xsi:nil": "true", "NV": c.nil})
    if name == "eMedications.03" and c.system in CODE_TYPE:
        attrs["CodeType"] = CODE_TYPE[c.system]
    return _el(name, c.code, **attrs)


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else ""


def _address(prefix: str, a: r.Address | None, street: str, state: str, county: str, zip_code: str) -> str:
    if a is None:
        return ""
    code = a.county_code or geo.county_fips(a.county, a.state)
    parts = [(street, a.street), (state, geo.state_fips(a.state) if a.state else ""), (county, code), (zip_code, a.zip)]
    return "".join(_el(name, value) for name, value in parts if value)


def pcr(run: r.EmsRun) -> str:
    """One PatientCareReport element."""
    p = run.patient
    body = [f"<eRecord>{_el('eRecord.01', run.pcr_number)}</eRecord>",
            "<eResponse><eResponse.AgencyGroup>" + _el("eResponse.01", run.agency_id)
            + _el("eResponse.02", run.agency_name) + "</eResponse.AgencyGroup>"
            + _el("eResponse.03", run.key.incident_number) + _coded("eResponse.05", run.type_of_service) + "</eResponse>",
            "<eDispatch>" + _coded("eDispatch.01", run.dispatch_reason)
            + (_el("eDispatch.03", run.emd_determinant) if run.emd_determinant else "") + "</eDispatch>",
            "<eTimes>" + "".join(_el(e, _when(getattr(run.times, f))) for f, e in TIMES.items()
                                 if getattr(run.times, f)) + "</eTimes>",
            "<ePatient>" + "".join(_el(e, v) for e, v in (("ePatient.02", p.family), ("ePatient.03", p.given),
                                                          ("ePatient.04", p.middle)) if v)
            + _address("ePatient", p.address, "ePatient.05", "ePatient.08", "ePatient.07", "ePatient.09")
            + (_el("ePatient.15", str(run.age)) if run.age is not None else "")
            + (_el("ePatient.16", run.age_units) if run.age_units else "")
            + (_el("ePatient.17", p.birth_date.isoformat()) if p.birth_date else "")
            + (_el("ePatient.18", p.phone) if p.phone else "")
            + (_el("ePatient.25", SEX_CODE[p.sex]) if p.sex in SEX_CODE else "") + "</ePatient>"]
    if run.scene is not None:
        s = run.scene
        lat_long = f"{s.latitude},{s.longitude}" if s.latitude is not None and s.longitude is not None else ""
        body.append("<eScene>" + (_el("eScene.11", lat_long) if lat_long else "")
                    + (_el("eScene.15", s.street) if s.street else "")
                    + _address("eScene", s.model_copy(update={"street": ""}), "eScene.15", "eScene.18", "eScene.21",
                               "eScene.19") + "</eScene>")
    body.append("<eSituation>" + "".join(_coded(e, getattr(run, f)) for f, e in SINGLE.items() if e.startswith("eSit"))
                + "".join(_coded(e, c) for f, e in LISTS.items() if e.startswith("eSit") for c in getattr(run, f))
                + "</eSituation>")
    body.append("".join(_coded(e, c) for f, e in LISTS.items() if not e.startswith("eSit") for c in getattr(run, f)))
    body.append(_coded("eArrest.18", run.arrest_outcome))
    for m in run.medications:
        body.append("<eMedications.MedicationGroup>" + _el("eMedications.01", _when(m.given_at))
                    + (_el("eMedications.02", YES) if m.given_prior else "") + _coded("eMedications.03", m.drug)
                    + "".join(_el(e, v) for e, v in (("eMedications.04", m.route), ("eMedications.07", m.response),
                                                     ("eMedications.10", m.administered_by),
                                                     ("eMedications.06", m.dose_unit)) if v)
                    + (_el("eMedications.05", f"{m.dose:g}") if m.dose is not None else "")
                    + "</eMedications.MedicationGroup>")
    for proc in run.procedures:
        body.append("<eProcedures.ProcedureGroup>" + _el("eProcedures.01", _when(proc.performed_at))
                    + _coded("eProcedures.03", proc.procedure) + "</eProcedures.ProcedureGroup>")
    d = run.disposition
    body.append("<eDisposition>" + "".join(_coded(e, getattr(d, f)) for f, e in DISPOSITION.items())
                + "".join(_coded("eDisposition.31", c) for c in d.refusal_reasons) + "</eDisposition>")
    for result in run.custom_results:
        body.append("<eCustomResults.ResultsGroup>" + _el("eCustomResults.01", result.value)
                    + _el("eCustomResults.02", result.element_id) + "</eCustomResults.ResultsGroup>")
    if run.narrative:
        body.append(f"<eNarrative>{_el('eNarrative.01', run.narrative)}</eNarrative>")
    uuid = f" UUID={quoteattr(run.pcr_uuid)}" if run.pcr_uuid else ""
    return f"<PatientCareReport{uuid}>" + "".join(body) + "</PatientCareReport>"


def nemsis(runs: list[r.EmsRun]) -> bytes:
    """An EMSDataSet of these runs (one Header per agency)."""
    by_agency: dict[str, list[r.EmsRun]] = {}
    for run in runs:
        by_agency.setdefault(run.agency_id, []).append(run)
    headers = "".join(f"<Header><DemographicGroup>{_el('dAgency.02', agency)}</DemographicGroup>"
                      + "".join(pcr(run) for run in group) + "</Header>" for agency, group in by_agency.items())
    return ('<?xml version="1.0" encoding="UTF-8"?><EMSDataSet xmlns="http://www.nemsis.org" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' + headers + "</EMSDataSet>").encode()


def nemsis_id(run: r.EmsRun) -> str:
    """The source record id the NEMSIS parser gives this run (the PCR's UUID, else its number)."""
    return run.pcr_uuid or run.pcr_number


# ---------------------------------------------------------------- HL7 v2 ORU^R01

def _esc(value: str) -> str:
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("~", "\\R\\")
    return out.replace("&", "\\T\\").replace("\r", "").replace("\n", "\\.br\\")


def _ts(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S+0000") if value else ""


def _obx(n: int, element: str, c: r.Coded, sub: str = "") -> str:
    value = f"{_esc(c.code)}^^{HL7_SYSTEM.get(c.system, 'NEMSIS')}" if c.code else ""
    status = "X" if c.nil and not c.code else "F"
    return f"OBX|{n}|CWE|{element}^^NEMSIS|{sub}|{value}||||||{status}||||||{c.pn}"


def oru(run: r.EmsRun, control_id: str) -> bytes:
    """An ORU^R01 carrying the run (ids only in the header: MSH-4 the agency, OBR-3 the PCR number)."""
    p, a = run.patient, run.patient.address or r.Address()
    born = p.birth_date.strftime("%Y%m%d") if p.birth_date else ""
    segments = [f"MSH|^~\\&|EPCR-APP|{_esc(run.agency_id)}|HANDOFF|PSAP|{_ts(run.envelope.ingested_at)}||ORU^R01^ORU_R01|"
                f"{control_id}|P|2.5.1",
                f"PID|1||{_esc(run.pcr_number)}^^^{_esc(run.agency_id)}^MR||{_esc(p.family)}^{_esc(p.given)}^{_esc(p.middle)}"
                f"||{born}|{p.sex}|||{_esc(a.street)}^^{_esc(a.city)}^{_esc(a.state)}^{_esc(a.zip)}^^^^{_esc(a.county)}"
                f"||{_esc(p.phone)}||{_esc(p.language)}",
                f"PV1|1|E|||||||||||||||||{_esc(run.key.incident_number)}",
                f"OBR|1||{_esc(run.pcr_number)}|67796-3^EMS patient care report^LN|||{_ts(run.times.psap_call)}"]
    obx: list[str] = []
    for field, element in SINGLE.items():
        obx.append(_obx(0, element, getattr(run, field)) if getattr(run, field) != r.Coded() else "")
    for field, element in LISTS.items():
        obx += [_obx(0, element, c) for c in getattr(run, field)]
    for field, element in DISPOSITION.items():
        c = getattr(run.disposition, field)
        obx.append(_obx(0, element, c) if c != r.Coded() else "")
    for field, element in TIMES.items():
        when = getattr(run.times, field)
        obx.append(f"OBX|0|TS|{element}^^NEMSIS||{_ts(when)}||||||F" if when else "")
    if run.emd_determinant:
        obx.append(f"OBX|0|ST|eDispatch.03^^NEMSIS||{_esc(run.emd_determinant)}||||||F")
    for i, m in enumerate(run.medications, 1):
        obx.append(_obx(0, "eMedications.03", m.drug, str(i)))
        for element, value in (("eMedications.04", m.route), ("eMedications.07", m.response),
                               ("eMedications.10", m.administered_by), ("eMedications.01", _ts(m.given_at)),
                               ("eMedications.02", YES if m.given_prior else "")):
            obx.append(f"OBX|0|ST|{element}^^NEMSIS|{i}|{_esc(value)}||||||F" if value else "")
    for i, proc in enumerate(run.procedures, 1):
        obx.append(_obx(0, "eProcedures.03", proc.procedure, str(i)))
        if proc.performed_at:
            obx.append(f"OBX|0|TS|eProcedures.01^^NEMSIS|{i}|{_ts(proc.performed_at)}||||||F")
    numbered = [line.replace("OBX|0|", f"OBX|{n}|", 1) for n, line in enumerate(filter(None, obx), 1)]
    notes = [f"NTE|{n}|L|{_esc(line)}" for n, line in enumerate(run.narrative.split("\n"), 1)] if run.narrative else []
    return ("\r".join(segments + numbered + notes) + "\r").encode("utf-8")
