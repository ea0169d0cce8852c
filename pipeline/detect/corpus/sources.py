"""CAD incidents of the corpus as their sources write them: a NENA EIDO document or a CAD export row.

The corpus keeps these raw (JSON document, CSV text and the site's column mapping), so that the
evaluation reads them through the same connectors as production (`connectors/cad`), including a
determinant exported in the call-type column. Pure builders, no I/O, no connector imports.

Sites (each a CAD with its own export shape):
- `cad-a`: APCO call type and a separate determinant column, local times with the site's zone.
- `cad-b`: the MPDS determinant in the call-type column whenever EMD was used (no determinant
  column), otherwise the CAD's own call type; UTC offsets on times.
- EIDO: APCO type in `incidentTypeCommonRegistryText`; a CAD that uses EMD puts the determinant in
  `incidentTypeInternalCode` and files such calls under a generic common type.
"""
from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from pipeline.records import IncidentKey

SITES: dict[str, dict] = {
    "cad-a": {
        "name": "cad-a", "timezone": "America/New_York",
        "columns": {"incident_id": ["Incident Number"], "received_at": ["Call Received"],
                    "dispatched_at": ["Dispatched"], "call_type": ["Call Type"],
                    "call_type_text": ["Call Type Description"], "mpds_determinant": ["Determinant"],
                    "priority": ["Priority"], "disposition": ["Disposition"], "units": ["Units"],
                    "narrative": ["Comments"]},
    },
    "cad-b": {
        "name": "cad-b", "call_type_determinants": "shape",
        "columns": {"incident_id": ["EventNo"], "received_at": ["CreateTime"], "call_type": ["FinalType"],
                    "call_type_internal": ["InitialType"], "priority": ["Pri"],
                    "disposition": ["Dispo"], "units": ["Units"], "narrative": ["Remarks"]},
    },
}
GENERIC_TYPE = "MEDICAL"


def _mpds_written(rng: random.Random, code: str) -> str:
    """A determinant as different CADs print it: 23-C-1, 23C01, 23-C-01, 23C1."""
    parts = code.split("-")
    if len(parts) != 3 or not parts[2][:1].isdigit():
        return code
    proto, level, rest = parts
    digits = "".join(ch for ch in rest if ch.isdigit())
    suffix = rest[len(digits):]
    style = rng.randrange(4)
    if style == 0:
        return code
    if style == 1:
        return f"{int(proto):02d}{level}{int(digits):02d}{suffix}"
    if style == 2:
        return f"{proto}-{level}-{int(digits):02d}{suffix}"
    return f"{proto}{level}{digits}{suffix}"


def eido_document(rng: random.Random, key: IncidentKey, when: datetime, facts: dict) -> dict:
    mpds = facts.get("mpds", "")
    in_type = facts.get("determinant_in_call_type", False)
    common = facts.get("call_type") or GENERIC_TYPE
    internal = _mpds_written(rng, mpds) if mpds and (in_type or rng.random() < 0.5) else facts.get("internal", "")
    incident = {"$id": f"inc-{key.incident_number}", "internalIncidentId": key.incident_number,
                "incidentTypeCommonRegistryText": common,
                "incidentCreationTimestamp": when.isoformat(),
                "incidentStatusCommonRegistryText": ["Closed"]}
    if internal:
        incident["incidentTypeInternalCode"] = internal
    if facts.get("call_text"):
        incident["incidentTypeInternalText"] = facts["call_text"]
    if facts.get("priority") is not None:
        incident["incidentCommonPriorityNumber"] = facts["priority"]
    notes = [n for n in facts.get("narrative", "").split("\n") if n]
    doc = {
        "$id": f"urn:eido:{key.dispatch_centre}:{key.incident_number}",
        "eidoVersion": "1.0", "issuingElementIdentification": key.dispatch_centre,
        "lastUpdateTimeStamp": (when + timedelta(minutes=40)).isoformat(),
        "incidentComponent": [incident],
        "notesComponent": [{"$id": f"note-{i}", "notesActionComments": f"<p>{escape(n)}</p>"}
                           for i, n in enumerate(notes)],
        "dispositionComponent": [{"$id": "disp-1", "dispositionCommonRegistryText": facts.get("dispositions", [])}],
        "emergencyResourceComponent": [{"$id": "unit-1", "emergencyResourceIdentifier": f"M{rng.randint(10, 99)}"}],
    }
    return doc


def cad_export(rng: random.Random, site: str, key: IncidentKey, when: datetime, facts: dict) -> str:
    """One CSV export (header and one row) of `site`, as its CAD writes it."""
    mpds = facts.get("mpds", "")
    if site == "cad-a":
        local = when.astimezone(ZoneInfo(SITES[site]["timezone"])).replace(tzinfo=None)
        row = {"Incident Number": key.incident_number, "Call Received": local.strftime("%m/%d/%Y %H:%M:%S"),
               "Dispatched": (local + timedelta(minutes=2)).strftime("%m/%d/%Y %H:%M:%S"),
               "Call Type": facts.get("call_type", "") if not facts.get("determinant_in_call_type") else "",
               "Call Type Description": facts.get("call_text", ""), "Determinant": _mpds_written(rng, mpds) if mpds else "",
               "Priority": f"P{facts.get('priority', 3)}", "Disposition": ";".join(facts.get("dispositions", [])),
               "Units": f"M{rng.randint(10, 99)};E{rng.randint(1, 20)}", "Comments": facts.get("narrative", "")}
    else:
        final = _mpds_written(rng, mpds) if mpds else facts.get("call_type", "")
        row = {"EventNo": key.incident_number, "CreateTime": when.isoformat(), "FinalType": final,
               "InitialType": facts.get("internal", "") or facts.get("call_type", ""), "Pri": str(facts.get("priority", 3)),
               "Dispo": ";".join(facts.get("dispositions", [])), "Units": f"M{rng.randint(10, 99)}",
               "Remarks": facts.get("narrative", "")}
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(row)
    return buffer.getvalue()
