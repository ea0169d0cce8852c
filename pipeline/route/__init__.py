"""Routing: who should be asked for a referral request. Pure; the directory and rules are data.

`route()` returns the cascade: every eligible recipient, in order of preference, one
candidate per recipient with its reasons. The first `rules.fan_out` are asked; the rest
wait for a decline or a missed deadline (re-routing passes `exclude`). Service area: a
county or ZIP code, or a polygon when the record has coordinates (no geocoder is
reachable, so an address is never turned into a point).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

import yaml

from pipeline import records as r
from pipeline.route.directory import (
    SAMPLE_DIRECTORY, Directory, DirectoryError, DirectorySource, Provider, parse_directory,
)
from pipeline.vocab import Category, Purpose, Service

RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"

__all__ = ["Candidate", "Directory", "DirectoryError", "DirectorySource", "Place", "Provider", "RoutingRules",
           "SAMPLE_DIRECTORY", "covers", "load_routing_rules", "parse_directory", "place_of", "route",
           "route_dispatch"]


@dataclass(frozen=True)
class RoutingRules:
    version: str
    needs: dict[Category, tuple[Service, ...]]
    eligibility: dict[str, dict[str, int]]
    follow_up_hours_required: bool
    emergency_hours_required: bool
    emergency_co_responder_only: bool
    emergency_categories: frozenset[Category]
    emergency_service: Service
    fan_out: int

    def services_for(self, categories: Iterable[Category]) -> list[Service]:
        services: list[Service] = []
        for category in categories:
            services += [s for s in self.needs.get(category, ()) if s not in services]
        return services


def load_routing_rules(path: Path = RULES_FILE) -> RoutingRules:
    data = yaml.safe_load(path.read_text())
    emergency = data["emergency_response"]
    return RoutingRules(
        version=str(data["version"]),
        needs={Category(c): tuple(Service(s) for s in services) for c, services in data["needs"].items()},
        eligibility={k: dict(v or {}) for k, v in data["eligibility"].items()},
        follow_up_hours_required=bool(data["follow_up"]["hours_required"]),
        emergency_hours_required=bool(emergency["hours_required"]),
        emergency_co_responder_only=bool(emergency["co_responder_only"]),
        emergency_categories=frozenset(Category(c) for c in emergency["categories"]),
        emergency_service=Service(emergency["service"]), fan_out=int(data["fan_out"]))


@dataclass(frozen=True)
class Place:
    county: str = ""
    zip: str = ""
    latitude: float | None = None
    longitude: float | None = None


def place_of(*addresses: r.Address | None) -> Place:
    """The first address that says where: the person's home, else the scene."""
    for address in addresses:
        if address and (address.county or address.zip or address.latitude is not None):
            return Place(address.county, address.zip[:5], address.latitude, address.longitude)
    return Place()


@dataclass(frozen=True)
class Candidate:
    provider: Provider
    purpose: Purpose
    reasons: tuple[str, ...]
    rank: int = 0


def covers(provider: Provider, place: Place) -> str | None:
    """Why the provider's area covers the place, or None. A provider without an area serves anywhere."""
    if not (provider.counties or provider.zips or provider.polygons):
        return "serves any area"
    if place.county and place.county.lower() in provider.counties:
        return f"serves {place.county} County"
    if place.zip and place.zip in provider.zips:
        return f"serves ZIP {place.zip}"
    if place.latitude is not None and place.longitude is not None:
        for ring in provider.polygons:
            if _inside(place.longitude, place.latitude, ring):
                return "scene inside its service polygon"
    return None


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


def route(request: r.Referral, directory: Directory, rules: RoutingRules, place: Place, now: datetime,
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
        reasons = (f"offers {request.service.value}", area, f"eligibility {provider.eligibility}",
                   *(["speaks " + language] if speaks else []), f"directory {directory.version}",
                   f"rules {rules.version}")
        purpose = Purpose.TREATMENT if provider.health_care_provider else Purpose.CARE_COORDINATION
        ranked.append(((not speaks, not specific, -(provider.capacity or 0), provider.id), provider, purpose, reasons))
    ranked.sort(key=lambda item: item[0])
    return [Candidate(p, purpose, reasons, rank) for rank, (_, p, purpose, reasons) in enumerate(ranked)]


def route_dispatch(detection: r.Detection, incident: r.DispatchIncident, directory: Directory,
                   rules: RoutingRules, now: datetime) -> list[Candidate]:
    """Dispatch-time crisis candidates: the on-duty co-responder or mobile-crisis team of the area
    for a behavioural-health or suicide-risk call still open, with purpose emergency-response."""
    if incident.cleared_at is not None or not rules.emergency_categories & set(detection.categories):
        return []
    place = place_of(incident.location)
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
