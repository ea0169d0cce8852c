"""Record builders for the labelled detection corpus: realistic shared records, no I/O.

A scenario decides the ground truth (by the category boundaries of issue 7) and the
facts; these helpers turn the facts into `EmsRun` / `DispatchIncident` records.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from pipeline.records import (
    Coded, DispatchIncident, EmsDisposition, EmsRun, EmsTimes, Envelope, IncidentKey, Medication, Person,
)

ICD = "ICD-10-CM"
RXNORM = "9924003"
NALOXONE = "7242"
BASE = datetime(2025, 3, 1, tzinfo=timezone.utc)
CENTRES = ["psap-north", "psap-east", "psap-metro"]
AGENCIES = {"psap-north": "ems-012", "psap-east": "ems-044", "psap-metro": "ems-101"}


def code(value: str, pn: str = "") -> Coded:
    return Coded(code=value, system=ICD, pn=pn)


def nemsis(value: str) -> Coded:
    return Coded(code=value)


def nil(nv: str = "7701003") -> Coded:
    return Coded(nil=nv)


def med(drug: str, response: str = "", prior: bool = False, by: str = "", route: str = "9927017",
        pn: str = "") -> Medication:
    # NEMSIS 3.5: a pertinent negative keeps the drug code (e.g. naloxone 7242 with PN 8801001, not given)
    return Medication(drug=Coded(code=drug, system=RXNORM, pn=pn),
                      given_prior=prior, route="" if pn else route, response=response, administered_by=by)


def _times(rng: random.Random, start: datetime) -> EmsTimes:
    t = start
    steps = []
    for lo, hi in ((1, 3), (4, 12), (1, 4), (10, 30), (8, 25), (15, 40)):
        t = t + timedelta(minutes=rng.randint(lo, hi))
        steps.append(t)
    return EmsTimes(psap_call=start, unit_notified=steps[0], on_scene=steps[1], at_patient=steps[2],
                    left_scene=steps[3], at_destination=steps[4], in_service=steps[5])


def _envelope(source: str, record_id: str, when: datetime, correlation: str) -> Envelope:
    return Envelope(event_id=f"{source}:{record_id}:1", source_system=source, source_record_id=record_id,
                    occurred_at=when, ingested_at=when + timedelta(minutes=90), correlation_id=correlation)


def incident_key(rng: random.Random, n: int, part: str) -> tuple[IncidentKey, datetime]:
    centre = rng.choice(CENTRES)
    when = BASE + timedelta(minutes=rng.randint(0, 60 * 24 * 200))
    number = f"{part[0].upper()}{when:%y%m%d}-{n:05d}"
    return IncidentKey(dispatch_centre=centre, incident_number=number), when


def make_run(rng: random.Random, n: int, part: str, facts: dict) -> EmsRun:
    """Build an EmsRun from scenario facts (keys mirror EmsRun fields; see scenarios.py)."""
    key, when = incident_key(rng, n, part)
    agency = AGENCIES[key.dispatch_centre]
    pcr = f"{agency.upper()}-{part[:1]}{n:06d}"
    sex = facts.get("sex", "M")
    died = facts.get("died", "")
    disp = EmsDisposition(
        unit_disposition=nemsis(facts.get("unit_disposition", "4227001")),
        patient_evaluation_care=nemsis(facts.get("care", "4228001")),
        transport_disposition=nemsis(facts.get("transport", "4230001")),
        refusal_reasons=[nemsis(c) for c in facts.get("refusal", [])],
        destination_type=nemsis(facts["destination"]) if facts.get("destination") else nil("7701001"),
        final_acuity=nemsis({"final": "4219009", "final_nr": "4219007"}.get(died, facts.get("final_acuity", "4219003"))),
    )
    symptoms = list(facts.get("symptoms", []))
    primary_symptom = symptoms.pop(0) if symptoms else nil()
    impressions = list(facts.get("impressions", []))
    primary_impression = impressions.pop(0) if impressions else nil()
    return EmsRun(
        envelope=_envelope(f"nemsis:{agency}", pcr, when, f"corr-{key.incident_number}"),
        key=key, agency_id=agency, agency_name=f"Agency {agency[-3:]}", pcr_number=pcr,
        pcr_uuid=f"{rng.getrandbits(128):032x}",
        type_of_service=nemsis("2205001"),
        dispatch_reason=nemsis(facts.get("dispatch_reason", "2301079")),
        emd_determinant=facts.get("emd", ""),
        times=_times(rng, when),
        age=facts.get("age", rng.randint(18, 80)), age_units="2516009",
        primary_symptom=primary_symptom, other_symptoms=symptoms,
        primary_impression=primary_impression, secondary_impressions=impressions,
        situation_acuity=nemsis("2813007" if died == "acuity" else facts.get("acuity", rng.choice(["2813001", "2813003", "2813005"]))),
        injury_causes=[code(c) for c in facts.get("injury", [])],
        alcohol_drug_indicators=[nemsis(c) for c in facts.get("indicators", [])],
        protocols=[nemsis(c) for c in facts.get("protocols", [])],
        medications=facts.get("medications", []),
        disposition=disp,
        arrest_outcome=nemsis("3018003") if died == "arrest" else nil("7701001"),
        narrative=facts.get("narrative", ""),
        patient=Person(sex=sex),
    )


def make_incident(rng: random.Random, n: int, part: str, facts: dict, key: IncidentKey | None = None,
                  when: datetime | None = None) -> DispatchIncident:
    if key is None:
        key, when = incident_key(rng, n, part)
    assert when is not None
    record_id = f"{key.dispatch_centre}:{key.incident_number}"
    return DispatchIncident(
        envelope=_envelope(f"cad:{key.dispatch_centre}", record_id, when, f"corr-{key.incident_number}"),
        key=key, call_type=facts.get("call_type", ""), call_type_internal=facts.get("internal", ""),
        call_type_text=facts.get("call_text", ""), mpds_determinant=facts.get("mpds", ""),
        priority=facts.get("priority", rng.randint(3, 9)), dispositions=facts.get("dispositions", []),
        received_at=when, dispatched_at=when + timedelta(minutes=rng.randint(1, 4)),
        units=[f"M{rng.randint(10, 99)}"], narrative=facts.get("narrative", ""),
    )
