"""HL7 v2 ORU^R01 and ADT^A04/A08 carrying an ePCR → one `EmsRun`.

What is read where (document for senders):
- MSH-3 sending application → source system `hl7v2:<MSH-3>`; MSH-4 sending facility → the EMS
  agency id (dispatch centre by `ctx.dispatch_centre_for`); MSH-7 → the version (Unix seconds);
  MSH-9 type, MSH-10 control id (see `read_header`, used by the ACK builder).
- Incident number: PV1-19 visit number (component 1), else an OBX `eResponse.03`.
- PCR number and record id: an OBX `eRecord.01`, else OBR-3 filler order number, else PV1-19.
- PID: 5 name (family^given^middle), 7 birth date, 8 sex, 11 address, 13 phone, 15 language.
- OBX: OBX-3.1 is a NEMSIS element id (eSituation.11, eMedications.03, eTimes.01, ...) and
  OBX-5 its value (CWE: code^text^system, I10/ICD10 → ICD-10-CM, RXNORM, SCT); OBX-4 sub-ID
  groups the elements of one medication or procedure; OBX-11 = X (not obtained) with no
  value is NV 7701003 (not recorded); OBX-17.1 8801xxx is a pertinent negative.
- NTE-3 (all NTEs, in order, `\\.br\\` as a line break) → the narrative.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pydantic import ValidationError

from connectors.common import (
    ParseContext, ParseResult, Parsed, Refused, draft_envelope, invalid_fields, seal,
)
from pipeline.hl7v2 import MAX_BYTES, MAX_FIELD, Hl7Error, Message, Segment, read
from pipeline.records import (
    Address, Coded, EmsDisposition, EmsRun, EmsTimes, IncidentKey, Medication, Person, Procedure,
)

ACCEPTED = {("ORU", "R01"), ("ADT", "A04"), ("ADT", "A08")}
SYSTEMS = {"I10": "http://hl7.org/fhir/sid/icd-10-cm", "ICD10": "http://hl7.org/fhir/sid/icd-10-cm",
           "I10C": "http://hl7.org/fhir/sid/icd-10-cm", "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
           "SCT": "http://snomed.info/sct", "SNOMED": "http://snomed.info/sct"}
SEX = {"F": "F", "M": "M", "U": "U", "O": "U", "A": "U", "N": "U"}
LISTS = {"eSituation.10": "other_symptoms", "eSituation.12": "secondary_impressions",
         "eInjury.01": "injury_causes", "eHistory.17": "alcohol_drug_indicators", "eProtocols.01": "protocols"}
SINGLE = {"eResponse.05": "type_of_service", "eDispatch.01": "dispatch_reason", "eSituation.09": "primary_symptom",
          "eSituation.11": "primary_impression", "eSituation.13": "situation_acuity", "eArrest.18": "arrest_outcome"}
DISPOSITION = {"eDisposition.27": "unit_disposition", "eDisposition.28": "patient_evaluation_care",
               "eDisposition.29": "crew_disposition", "eDisposition.30": "transport_disposition",
               "eDisposition.21": "destination_type", "eDisposition.19": "final_acuity"}
TIMES = {"eTimes.01": "psap_call", "eTimes.03": "unit_notified", "eTimes.06": "on_scene", "eTimes.07": "at_patient",
         "eTimes.09": "left_scene", "eTimes.11": "at_destination", "eTimes.13": "in_service"}


@dataclass(frozen=True)
class Header:
    control_id: str
    message_type: str
    trigger: str
    version: str
    sending_app: str
    sending_facility: str
    receiving_app: str
    receiving_facility: str
    processing_id: str
    sent_at: str


def header_of(msg: Message) -> Header:
    m = msg.msh
    return Header(control_id=msg.get(m, 10), message_type=msg.get(m, 9, 1), trigger=msg.get(m, 9, 2),
                  version=msg.get(m, 12), sending_app=msg.get(m, 3), sending_facility=msg.get(m, 4),
                  receiving_app=msg.get(m, 5), receiving_facility=msg.get(m, 6),
                  processing_id=msg.get(m, 11), sent_at=msg.get(m, 7))


def read_header(data: bytes) -> Header | Refused:
    """MSH of a message (control id, type, ...) for the ACK, or why it cannot be read."""
    try:
        return header_of(read(data))
    except Hl7Error as error:
        return Refused(None, error.reason)


def hl7_time(value: str) -> datetime | None:
    """HL7 DTM 'YYYYMMDDHHMM[SS[.S+]]±ZZZZ' with its offset; None without one (no guessing)."""
    digits, sign, offset = value.partition("+") if "+" in value else value.partition("-")
    if not sign or len(offset) != 4 or not offset.isdigit():
        return None
    digits = digits.split(".")[0]
    try:
        naive = datetime.strptime(digits.ljust(14, "0")[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    hours, minutes = int(offset[:2]), int(offset[2:])
    if hours > 23 or minutes > 59:  # not an offset ("-2400" once escaped as a ValueError: atheris, CI)
        return None
    shift = timedelta(hours=hours, minutes=minutes)
    return naive.replace(tzinfo=timezone(shift if sign == "+" else -shift))


def parse_hl7(data: bytes, ctx: ParseContext, *, max_bytes: int = MAX_BYTES,
              max_field: int = MAX_FIELD) -> list[ParseResult]:
    try:
        msg = read(data, max_bytes=max_bytes, max_field=max_field)
    except Hl7Error as error:
        return [Refused(None, error.reason)]
    head = header_of(msg)
    if (head.message_type, head.trigger) not in ACCEPTED:
        return [Refused(head.control_id or None, "message type is not ORU^R01, ADT^A04 or ADT^A08")]
    if msg.first("PID") is None:
        return [Refused(head.control_id or None, "message has no PID segment")]
    if not head.sending_app or not head.sending_facility:
        return [Refused(head.control_id or None, "MSH-3 sending application and MSH-4 sending facility are required")]
    try:
        return [Parsed(_run(msg, head, ctx))]
    except ValidationError as error:
        return [Refused(head.control_id or None, "message does not fit the EMS-run record", invalid_fields(error))]
    except _Missing as missing:
        return [Refused(head.control_id or None, str(missing))]


class _Missing(ValueError):
    pass


def _coded(msg: Message, obx: Segment) -> Coded:
    code = msg.get(obx, 5, 1).strip()
    pn = msg.get(obx, 17, 1) if msg.get(obx, 17, 1).startswith("8801") else ""
    nil = "7701003" if not code and msg.get(obx, 11) == "X" else ""
    system = SYSTEMS.get(msg.get(obx, 5, 3).upper(), "") if code else ""
    if code and not system and msg.get(obx, 2) in ("CWE", "CE", "CNE"):
        system = "nemsis:" + msg.get(obx, 3, 1)
    return Coded(code=code, system=system, nil=nil, pn=pn)


def _run(msg: Message, head: Header, ctx: ParseContext) -> EmsRun:
    obx_by: dict[str, list[Segment]] = defaultdict(list)
    for obx in msg.all("OBX"):
        obx_by[msg.get(obx, 3, 1)].append(obx)

    def text(element: str) -> str:
        found = obx_by.get(element)
        return msg.get(found[0], 5, 1).strip() if found else ""

    pv1 = msg.first("PV1")
    incident = msg.get(pv1, 19).strip() or text("eResponse.03")
    if not incident:
        raise _Missing("message has no incident number (PV1-19 or OBX eResponse.03)")
    pcr_number = text("eRecord.01") or msg.get(msg.first("OBR"), 3).strip() or incident
    agency = text("eResponse.01") or head.sending_facility
    key = IncidentKey(dispatch_centre=ctx.dispatch_centre_for(agency), incident_number=incident)
    single = {f: _coded(msg, obx_by[e][0]) for e, f in SINGLE.items() if obx_by.get(e)}
    lists = {f: [_coded(msg, o) for o in obx_by[e]] for e, f in LISTS.items() if obx_by.get(e)}
    disposition = EmsDisposition(**{f: _coded(msg, obx_by[e][0]) for e, f in DISPOSITION.items() if obx_by.get(e)})
    times = EmsTimes(**{f: hl7_time(text(e)) for e, f in TIMES.items() if obx_by.get(e)})
    version_at = hl7_time(head.sent_at)
    draft = EmsRun(
        envelope=draft_envelope(pcr_number), key=key, agency_id=agency, pcr_number=pcr_number,
        emd_determinant=text("eDispatch.03"), times=times, patient=_patient(msg),
        medications=[_medication(msg, g) for g in _groups(msg, obx_by, "eMedications.")],
        procedures=[_procedure(msg, g) for g in _groups(msg, obx_by, "eProcedures.")],
        disposition=disposition, narrative="\n".join(msg.get(n, 3) for n in msg.all("NTE")),
        **single, **lists,
    )
    return seal(draft, source_system=f"hl7v2:{head.sending_app}", record_id=pcr_number,
                version=max(1, int(version_at.timestamp())) if version_at else 1,
                occurred_at=times.psap_call, key=key, ctx=ctx)


def _groups(msg: Message, obx_by: dict[str, list[Segment]], prefix: str) -> list[dict[str, Segment]]:
    groups: dict[str, dict[str, Segment]] = {}
    for element, segments in obx_by.items():
        if element.startswith(prefix):
            for obx in segments:
                groups.setdefault(msg.get(obx, 4) or "1", {}).setdefault(element, obx)
    return list(groups.values())


def _medication(msg: Message, group: dict[str, Segment]) -> Medication:
    def value(e: str) -> str:
        return msg.get(group[e], 5, 1).strip() if e in group else ""
    drug = _coded(msg, group["eMedications.03"]) if "eMedications.03" in group else Coded()
    return Medication(drug=drug, given_prior=value("eMedications.02") == "9923003", route=value("eMedications.04"),
                      response=value("eMedications.07"), administered_by=value("eMedications.10"),
                      given_at=hl7_time(value("eMedications.01")))


def _procedure(msg: Message, group: dict[str, Segment]) -> Procedure:
    proc = _coded(msg, group["eProcedures.03"]) if "eProcedures.03" in group else Coded()
    when = hl7_time(msg.get(group["eProcedures.01"], 5)) if "eProcedures.01" in group else None
    return Procedure(procedure=proc, performed_at=when)


def _patient(msg: Message) -> Person:
    pid = msg.first("PID")
    born = msg.get(pid, 7)[:8]
    try:
        birth = datetime.strptime(born, "%Y%m%d").date() if len(born) == 8 else None
    except ValueError:
        birth = None
    home = Address(street=msg.get(pid, 11, 1), city=msg.get(pid, 11, 3), state=msg.get(pid, 11, 4),
                   zip=msg.get(pid, 11, 5), county=msg.get(pid, 11, 9))
    phone = msg.get(pid, 13, 1) or (msg.get(pid, 13, 6) + msg.get(pid, 13, 7))
    return Person(role="patient", family=msg.get(pid, 5, 1), given=msg.get(pid, 5, 2), middle=msg.get(pid, 5, 3),
                  birth_date=birth, sex=SEX.get(msg.get(pid, 8).upper(), ""), phone=phone,
                  address=home if home != Address() else None, language=msg.get(pid, 15, 1))
