"""De-identified facts from a detection and its source record (pure): the call a report counts,
and the overdose the surveillance feed carries.

Nothing that names a person leaves here: no name, date of birth, address, phone, person token or
narrative. The time is kept to the hour (the feed) or the minute (a call, for the month's
report); the place becomes an area (county FIPS code, else city, else 'unknown') and a grid cell
of `grid_degrees` (0.01° ≈ 1.1 km north–south); ids are keyed digests that only the site can
recompute.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from pipeline import records as r
from pipeline.ids import digest
from pipeline.vocab import Category

NALOXONE = frozenset({"7242", "203192", "197117"})  # RxNorm: naloxone (as the detection rules name it)
OVERDOSE = frozenset({Category.OVERDOSE, Category.OPIOID_OVERDOSE})
PATHWAYS = ("ems-led", "fire-led", "police-led", "self", "dispatch-only")


@dataclass(frozen=True)
class Call:
    call_id: str
    occurred_at: datetime
    area: str
    pathway: str
    categories: frozenset[str]
    fatal: bool

    @property
    def month(self) -> str:
        return self.occurred_at.strftime("%Y-%m")


def call_id(key: r.IncidentKey, secret: str) -> str:
    """A keyed digest of the incident: the same for the CAD record and every EMS run of it."""
    return "call-" + digest("report", secret, key.dispatch_centre, key.incident_number, length=24)


def area_of(place: r.Address | None) -> str:
    if place is None:
        return "unknown"
    if place.county_code:
        return place.county_code
    return place.city.strip().lower() or "unknown"


def grid_cell(place: r.Address | None, degrees: float) -> tuple[str, float | None, float | None]:
    """The cell a location falls in, and the cell's centre ('' and no centre when there is none)."""
    if place is None or place.latitude is None or place.longitude is None:
        return "", None, None
    row, col = math.floor(place.latitude / degrees), math.floor(place.longitude / degrees)
    places = max(0, -math.floor(math.log10(degrees))) + 2
    return (f"{degrees:g}:{row}:{col}", round((row + 0.5) * degrees, places),
            round((col + 0.5) * degrees, places))


def pathway_of(source: r.EmsRun | r.DispatchIncident, fire_agencies: frozenset[str]) -> str:
    if isinstance(source, r.EmsRun):
        return "fire-led" if source.agency_id in fire_agencies else "ems-led"
    return "dispatch-only"


def request_pathway(request: r.ReferralRequest, fire_agencies: frozenset[str]) -> str:
    """A referral request's pathway: its PTACC pathway, a first responder's by its agency."""
    if request.pathway.value == "self-referral":
        return "self"
    if request.pathway.value.startswith("officer-"):
        return "police-led"
    if request.pathway.value == "first-responder":
        return "fire-led" if request.referring_agency in fire_agencies else "ems-led"
    return "police-led" if request.source_role and request.source_role.value == "law-enforcement" else "ems-led"


def _place(source: r.EmsRun | r.DispatchIncident) -> r.Address | None:
    return source.scene if isinstance(source, r.EmsRun) else source.location


def _when(detection: r.Detection, source: r.EmsRun | r.DispatchIncident) -> datetime:
    if isinstance(source, r.EmsRun):
        at = source.times.psap_call or source.times.unit_notified
    else:
        at = source.received_at
    return (at or detection.envelope.occurred_at).astimezone(timezone.utc)


def call(detection: r.Detection, source: r.EmsRun | r.DispatchIncident, secret: str,
         fire_agencies: frozenset[str]) -> Call | None:
    """The call a report counts, or None when nothing was recognised."""
    if not detection.categories:
        return None
    return Call(call_id(detection.key, secret), _when(detection, source).replace(second=0, microsecond=0),
                area_of(_place(source)), pathway_of(source, fire_agencies),
                frozenset(c.value for c in detection.categories), detection.patient_died)


def overdose(detection: r.Detection, source: r.EmsRun | r.DispatchIncident, secret: str,
             degrees: float, fire_agencies: frozenset[str], policy_version: str) -> r.OverdoseReport | None:
    """The feed's record for a recognised overdose (with or without a referral), else None."""
    if not OVERDOSE & set(detection.categories):
        return None
    cell, lat, lon = grid_cell(_place(source), degrees)
    doses = sum(1 for m in source.medications if m.drug.code in NALOXONE and not m.drug.pn) \
        if isinstance(source, r.EmsRun) else 0
    return r.OverdoseReport(
        report_id="od-" + digest("surveillance", secret, detection.key.dispatch_centre,
                                 detection.key.incident_number, length=24),
        occurred_at=_when(detection, source).replace(minute=0, second=0, microsecond=0),
        area=area_of(_place(source)), grid_cell=cell, latitude=lat, longitude=lon,
        fatal=detection.patient_died, naloxone_given=doses > 0, naloxone_doses=doses,
        opioid=Category.OPIOID_OVERDOSE in detection.categories, pathway=pathway_of(source, fire_agencies),
        policy_version=policy_version)
