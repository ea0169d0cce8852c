"""One NEMSIS v3.5.1 PatientCareReport element → the fields of an `EmsRun` (DOMAIN.md §1).

Not-values and pertinent negatives are data: every coded element becomes a `Coded` whose
`nil` holds the NV code (7701001 not applicable, 7701003 not recorded, 7701005 not
reporting) and whose `pn` holds the PN code; a PN medication or procedure was not given and
a PN symptom is absent, so they are kept with their `pn` for detection to see. Conflicts
are findings (element ids and codes, never values), not errors:
- a PN without a value on an element whose PN negates that value (a symptom, impression,
  medication or procedure: the FailSchematron case, eSituation.10 nil + PN 8801031); a PN
  with xsi:nil elsewhere (ePatient.05 "unable to complete") is ordinary NEMSIS;
- a PN together with an NV;
- a value on an element marked xsi:nil.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Iterable

import pycountry
from lxml import etree

from connectors.common import parse_time
from connectors.safexml import local
from pipeline import geo
from pipeline.records import (
    Address, Coded, CustomResult, EmsDisposition, EmsTimes, Medication, Person, Procedure,
)

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
CODE_TYPE = {"9924003": RXNORM, "9924005": SNOMED}  # eMedications.03/@CodeType
ICD_ELEMENTS = {"eSituation.09", "eSituation.10", "eSituation.11", "eSituation.12", "eInjury.01"}
SNOMED_ELEMENTS = {"eProcedures.03"}
VALUE_PN = ICD_ELEMENTS - {"eInjury.01"} | {"eMedications.03", "eProcedures.03"}  # PN negates the value
SEX = {"9919001": "F", "9919003": "M", "9919005": "U"}
YES = "9923003"
_DATETIME = re.compile(r"^\s*\d{4}-\d\d-\d\dT\d\d:\d\d")

Index = dict[str, list[etree._Element]]


def index(element: etree._Element) -> Index:
    """Every descendant element by local name, in document order."""
    found: Index = {}
    for child in element.iter(etree.Element):
        found.setdefault(child.tag.rpartition("}")[2], []).append(child)
    return found


def scan(pcr: etree._Element) -> tuple[list[str], list[datetime]]:
    """Findings on NV/PN use, and every date-time in the PCR (for its version)."""
    findings: list[str] = []
    times: list[datetime] = []
    for el in pcr.iter(etree.Element):
        text = el.text
        if text and _DATETIME.match(text):
            moment = parse_time(text)
            if moment is not None:
                times.append(moment)
            else:  # kept, but said: an impossible date-time is not a time the record can be ordered by
                findings.append(f"{local(el.tag)}: not a valid date-time with an offset; ignored")
        pn, nv, nil = el.get("PN"), el.get("NV"), el.get(XSI_NIL) in ("true", "1")
        if not (pn or nil):
            continue
        has_value = bool(text and text.strip())
        name = local(el.tag)
        if pn and nv:
            findings.append(f"{name}: pertinent negative {pn} together with not-value {nv}")
        elif pn and not has_value and name in VALUE_PN:
            findings.append(f"{name}: pertinent negative {pn} without a value")
        if nil and has_value:
            findings.append(f"{name}: a value on an element marked xsi:nil")
    return findings, times


def text(idx: Index, name: str) -> str:
    els = idx.get(name)
    return (els[0].text or "").strip() if els else ""


def coded_el(el: etree._Element) -> Coded:
    name = local(el.tag)
    value = (el.text or "").strip()
    nil = el.get("NV", "") if el.get(XSI_NIL) in ("true", "1") or not value else ""
    if name == "eMedications.03":
        system = CODE_TYPE.get(el.get("CodeType", ""), "")
    elif name in ICD_ELEMENTS:
        system = ICD10CM
    elif name in SNOMED_ELEMENTS:
        system = SNOMED
    else:
        system = "nemsis:" + name
    return Coded(code=value, system=system if value else "", nil=nil, pn=el.get("PN", ""))


def coded(idx: Index, name: str) -> Coded:
    els = idx.get(name)
    return coded_el(els[0]) if els else Coded()


def coded_all(idx: Index, name: str) -> list[Coded]:
    return [coded_el(el) for el in idx.get(name, ())]


def time(idx: Index, name: str) -> datetime | None:
    return parse_time(text(idx, name))


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _float(value: str) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number == number and abs(number) != float("inf") else None


def lat_long(value: str) -> tuple[float | None, float | None]:
    """eScene.11 / eResponse.17 "lat,long"; (None, None) when malformed or out of range."""
    parts = value.split(",")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        return None, None
    if len(parts) != 2 or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def times(idx: Index) -> EmsTimes:
    return EmsTimes(
        psap_call=time(idx, "eTimes.01"), unit_notified=time(idx, "eTimes.03"),
        on_scene=time(idx, "eTimes.06"), at_patient=time(idx, "eTimes.07"),
        left_scene=time(idx, "eTimes.09"), at_destination=time(idx, "eTimes.11"),
        in_service=time(idx, "eTimes.13"),
    )


def place(street: str, state: str, county: str, zip_code: str, lat: float | None = None,
          lon: float | None = None) -> Address | None:
    """An address from NEMSIS codes (DOMAIN.md §1): the FIPS state code becomes the USPS
    abbreviation, the FIPS county code its Census name (the code is kept in county_code). The
    city is a GNIS feature id, and no GNIS name table ships here, so it is not written as a city."""
    code = geo.county_fips(county)
    found = Address(street=street, state=geo.state_abbr(state), county=geo.county_name(code) if code else "",
                    county_code=code, zip=zip_code, latitude=lat, longitude=lon)
    return found if found != Address() else None


def language(code: str) -> str:
    """ePatient.24 (ISO 639-2, three letters, terminology or bibliographic form) as a BCP-47 tag:
    the ISO 639-1 two-letter code where one exists, else the three letters ('' when unknown)."""
    code = code.strip().lower()
    if not re.fullmatch(r"[a-z]{3}", code):
        return ""
    found = pycountry.languages.get(alpha_3=code) or pycountry.languages.get(bibliographic=code)
    if found is None:
        return ""
    return getattr(found, "alpha_2", "") or found.alpha_3


def patient(idx: Index) -> Person:
    home = place(text(idx, "ePatient.05"), text(idx, "ePatient.08"), text(idx, "ePatient.07"),
                 text(idx, "ePatient.09"))
    return Person(
        role="patient", family=text(idx, "ePatient.02"), given=text(idx, "ePatient.03"),
        middle=text(idx, "ePatient.04"), birth_date=_date(text(idx, "ePatient.17")),
        sex=SEX.get(text(idx, "ePatient.25"), ""), phone=text(idx, "ePatient.18"),
        address=home, language=language(text(idx, "ePatient.24")), residence=text(idx, "ePatient.22"),
    )


def age(idx: Index) -> tuple[int | None, str]:
    return _int(text(idx, "ePatient.15")), text(idx, "ePatient.16")


def scene(idx: Index) -> Address | None:
    lat, lon = lat_long(text(idx, "eScene.11"))
    street = " ".join(p for p in (text(idx, "eScene.15"), text(idx, "eScene.16")) if p)
    return place(street, text(idx, "eScene.18"), text(idx, "eScene.21"), text(idx, "eScene.19"), lat, lon)


def _groups(idx: Index, name: str) -> Iterable[Index]:
    return (index(group) for group in idx.get(name, ()))


def medications(idx: Index) -> list[Medication]:
    found = []
    for group in _groups(idx, "eMedications.MedicationGroup"):
        found.append(Medication(
            drug=coded(group, "eMedications.03"),
            given_prior=text(group, "eMedications.02") == YES,
            route=text(group, "eMedications.04"), response=text(group, "eMedications.07"),
            administered_by=text(group, "eMedications.10"),
            given_at=time(group, "eMedications.01"),
            dose=_float(text(group, "eMedications.05")), dose_unit=text(group, "eMedications.06"),
        ))
    return found


def procedures(idx: Index) -> list[Procedure]:
    return [Procedure(procedure=coded(g, "eProcedures.03"), performed_at=time(g, "eProcedures.01"))
            for g in _groups(idx, "eProcedures.ProcedureGroup")]


def disposition(idx: Index) -> EmsDisposition:
    return EmsDisposition(
        unit_disposition=coded(idx, "eDisposition.27"),
        patient_evaluation_care=coded(idx, "eDisposition.28"),
        crew_disposition=coded(idx, "eDisposition.29"),
        transport_disposition=coded(idx, "eDisposition.30"),
        refusal_reasons=coded_all(idx, "eDisposition.31"),
        destination_type=coded(idx, "eDisposition.21"),
        final_acuity=coded(idx, "eDisposition.19"),
    )


def custom_results(idx: Index) -> list[CustomResult]:
    """eCustomResults.ResultsGroup: .02 the custom (or NEMSIS) element id, .01 its value."""
    found = []
    for group in _groups(idx, "eCustomResults.ResultsGroup"):
        element_id = text(group, "eCustomResults.02")
        if element_id:
            found.append(CustomResult(element_id=element_id, value=text(group, "eCustomResults.01")))
    return found


def narrative(idx: Index) -> str:
    """eNarrative.01 exactly as sent (not stripped), so evidence offsets index into it."""
    els = idx.get("eNarrative.01")
    return (els[0].text or "") if els else ""
