"""Routing: who should be asked for a referral request. Pure; the directory and rules are data.

`route()` returns the cascade: every eligible recipient, in order of preference, one
candidate per recipient with its reasons. The first `rules.fan_out` are asked; the rest
wait for a decline or a missed deadline (re-routing passes `exclude`).

Where: the person's home, falling back to the scene (`place_of(home, scene)`); each candidate's
reasons say which was used. Service area: a county, matched by FIPS code or by name either way
(NEMSIS carries FIPS codes, a county's directory names its counties: pipeline/geo.py), a ZIP
code, or a GeoJSON boundary when the place has coordinates (the scene's eScene.11; no geocoder
is reachable, so an address is never turned into a point).

What: `rules.services_for(categories, facts)` applies the needs table (rules.yaml), whose rows
have conditions (`if` all present, `unless` none present) over categories and facts such as
`homeless` (`facts_of`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

import yaml

from pipeline import geo
from pipeline import records as r
from pipeline.route.directory import (
    SAMPLE_DIRECTORY, Directory, DirectoryError, DirectorySource, Provider, parse_directory,
)
from pipeline.vocab import Category, Purpose, Service

RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"

__all__ = ["Candidate", "Directory", "DirectoryError", "DirectorySource", "Need", "Place", "Provider",
           "RoutingRules", "SAMPLE_DIRECTORY", "covers", "facts_of", "load_routing_rules", "parse_directory",
           "place_of", "route", "route_dispatch"]


HOMELESS = "2522001"  # NEMSIS ePatient.22 alternate home residence: homeless
HOMELESS_CODES = ("Z59.0",)  # ICD-10-CM homelessness (Z59.00-Z59.02)


@dataclass(frozen=True)
class Need:
    """One row of the needs table: when every `when` is present and no `unless` is, the services."""

    id: str
    when: frozenset[str]
    unless: frozenset[str]
    services: tuple[Service, ...]


@dataclass(frozen=True)
class RoutingRules:
    version: str
    needs: tuple[Need, ...]
    eligibility: dict[str, dict[str, int]]
    follow_up_hours_required: bool
    emergency_hours_required: bool
    emergency_co_responder_only: bool
    emergency_categories: frozenset[Category]
    emergency_service: Service
    fan_out: int

    def matching(self, categories: Iterable[Category], facts: Iterable[str] = ()) -> list[Need]:
        present = {c.value for c in categories} | set(facts)
        return [n for n in self.needs if n.when <= present and not n.unless & present]

    def services_for(self, categories: Iterable[Category], facts: Iterable[str] = ()) -> list[Service]:
        """The services the recognised needs call for, in the table's order, each once."""
        services: list[Service] = []
        for need in self.matching(categories, facts):
            services += [s for s in need.services if s not in services]
        return services

    def grounds(self, service: Service, categories: Iterable[Category], facts: Iterable[str] = ()) -> set[Category]:
        """The categories that call for `service` here (its evidence is the referral's reasons)."""
        present = list(categories)
        return {c for need in self.matching(present, facts) if service in need.services for c in present
                if c.value in need.when}


def load_routing_rules(path: Path = RULES_FILE) -> RoutingRules:
    data = yaml.safe_load(path.read_text())
    emergency = data["emergency_response"]
    known = {c.value for c in Category} | set(FACTS)
    needs = []
    for row in data["needs"]:
        when, unless = frozenset(row["if"]), frozenset(row.get("unless", ()))
        if not when or (when | unless) - known:
            raise ValueError(f"routing rules: need {row.get('id')!r} names {sorted((when | unless) - known)}")
        needs.append(Need(str(row["id"]), when, unless, tuple(Service(s) for s in row["services"])))
    return RoutingRules(
        version=str(data["version"]), needs=tuple(needs),
        eligibility={k: dict(v or {}) for k, v in data["eligibility"].items()},
        follow_up_hours_required=bool(data["follow_up"]["hours_required"]),
        emergency_hours_required=bool(emergency["hours_required"]),
        emergency_co_responder_only=bool(emergency["co_responder_only"]),
        emergency_categories=frozenset(Category(c) for c in emergency["categories"]),
        emergency_service=Service(emergency["service"]), fan_out=int(data["fan_out"]))


FACTS = ("homeless",)


def facts_of(runs: Iterable[r.EmsRun]) -> frozenset[str]:
    """What the records say beyond the categories: `homeless` when a PCR records it (ePatient.22
    homeless, or an ICD-10-CM Z59.0x homelessness impression)."""
    found = set()
    for run in runs:
        codes = [run.primary_impression, *run.secondary_impressions, run.primary_symptom, *run.other_symptoms]
        if run.patient.residence == HOMELESS or any(c.code.strip().startswith(HOMELESS_CODES) and not c.pn
                                                    for c in codes):
            found.add("homeless")
    return frozenset(found)


@dataclass(frozen=True)
class Place:
    """Where a service is wanted: county (a name or a FIPS code), ZIP, coordinates; `label` says
    whose place it is (home, scene) and `then` is the place to fall back to."""

    county: str = ""
    zip: str = ""
    latitude: float | None = None
    longitude: float | None = None
    state: str = ""
    county_code: str = ""
    label: str = ""
    then: "Place | None" = None

    @property
    def counties(self) -> frozenset[str]:
        return geo.county_keys(self.county, self.state, self.county_code)

    @property
    def known(self) -> bool:
        return bool(self.county or self.county_code or self.zip or self.latitude is not None)


def _place(address: r.Address | None, label: str) -> Place | None:
    if address is None:
        return None
    place = Place(address.county, address.zip[:5], address.latitude, address.longitude, address.state,
                  address.county_code, label)
    return place if place.known else None


def place_of(home: r.Address | None = None, scene: r.Address | None = None) -> Place:
    """The person's home, falling back to the scene (a scene alone when the home says nothing)."""
    at_home, at_scene = _place(home, "home"), _place(scene, "scene")
    if at_home is not None:
        return Place(**{**at_home.__dict__, "then": at_scene})
    return at_scene or Place()


@dataclass(frozen=True)
class Candidate:
    provider: Provider
    purpose: Purpose
    reasons: tuple[str, ...]
    rank: int = 0


def covers(provider: Provider, place: Place) -> str | None:
    """Why the provider's area covers the place (or, failing that, the place it falls back to),
    or None. A provider without an area serves anywhere."""
    if not (provider.counties or provider.zips or provider.polygons):
        return "serves any area"
    whose = f"{place.label} " if place.label else ""
    keys = place.counties
    for area in provider.counties:
        if keys and geo.same_county(keys, area):
            code = next((k[5:] for k in sorted(keys | area) if k.startswith("fips:")), "")
            name = place.county if place.county and not place.county.isdigit() else geo.county_name(code)
            return f"serves {whose}{name or code}" + (f" (FIPS {code})" if code else "")
    if place.zip and place.zip in provider.zips:
        return f"serves {whose}ZIP {place.zip}"
    if place.latitude is not None and place.longitude is not None:
        for ring in provider.polygons:
            if _inside(place.longitude, place.latitude, ring):
                return f"{place.label or 'place'} inside its service polygon"
    return covers(provider, place.then) if place.then is not None else None


def _inside(x: float, y: float, ring: tuple[tuple[float, float], ...]) -> bool:
    """Ray casting: is (x, y) inside the closed ring?"""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _open(provider: Provider, now: datetime) -> bool:
    if not provider.hours:
        return True
    # `now` is in the site's time zone (the caller converts: settings routing.timezone)
    day, at = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[now.weekday()], now.time()
    return any(day in h.days and h.start <= at <= h.end for h in provider.hours)


def _eligible(provider: Provider, age: int | None, rules: RoutingRules) -> bool:
    bounds = rules.eligibility.get(provider.eligibility, {})
    if age is None:
        return True
    return bounds.get("min_age", 0) <= age <= bounds.get("max_age", 200)


def route(request: r.ReferralRequest, directory: Directory, rules: RoutingRules, place: Place, now: datetime,
          age: int | None = None, language: str = "", exclude: frozenset[str] = frozenset()) -> list[Candidate]:
    """The cascade of recipients for one request's service, best first."""
    ranked = []
    for provider in directory.providers:
        if provider.id in exclude or request.service not in provider.services or not provider.accepting:
            continue
        if provider.capacity is not None and provider.capacity <= 0:
            continue
        area = covers(provider, place)
        if area is None or not _eligible(provider, age, rules):
            continue
        if rules.follow_up_hours_required and not _open(provider, now):
            continue
        speaks = bool(language) and language in provider.languages
        specific = area != "serves any area"
        fallback = bool(place.label) and place.label not in area
        reasons = (f"offers {request.service.value}", area, f"eligibility {provider.eligibility}",
                   *(["speaks " + language] if speaks else []), f"directory {directory.version}",
                   f"rules {rules.version}")
        purpose = Purpose.TREATMENT if provider.health_care_provider else Purpose.CARE_COORDINATION
        ranked.append(((not speaks, not specific, fallback, -(provider.capacity or 0), provider.id), provider, purpose,
                       reasons))
    ranked.sort(key=lambda item: item[0])
    return [Candidate(p, purpose, reasons, rank) for rank, (_, p, purpose, reasons) in enumerate(ranked)]


def route_dispatch(detection: r.Detection, incident: r.DispatchIncident, directory: Directory,
                   rules: RoutingRules, now: datetime) -> list[Candidate]:
    """Dispatch-time crisis candidates: the on-duty co-responder or mobile-crisis team of the area
    for a behavioural-health or suicide-risk call still open, with purpose emergency-response."""
    if incident.cleared_at is not None or not rules.emergency_categories & set(detection.categories):
        return []
    place = place_of(None, incident.location)
    out = []
    for provider in directory.providers:
        if rules.emergency_co_responder_only and not provider.co_responder:
            continue
        if rules.emergency_service not in provider.services or not provider.accepting:
            continue
        area = covers(provider, place)
        if area is None or (rules.emergency_hours_required and not _open(provider, now)):
            continue
        out.append(Candidate(provider, Purpose.EMERGENCY_RESPONSE,
                             ("co-responder on duty", area, f"call {incident.call_type or 'unknown type'}",
                              f"rules {rules.version}"), len(out)))
    return out
