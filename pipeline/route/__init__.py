"""Routing: which provider should be asked for a referral request. Pure; the directory is data.

This first cut matches the service and the county of the scene; the routing issue adds
FHIR directory resources, hours, capacity, polygons and the fallback cascade behind
the same `route(request, directory, exclude)` shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline import records as r
from pipeline.vocab import Purpose, Service

SAMPLE_DIRECTORY = Path(__file__).resolve().parent / "directory.yaml"


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    health_care_provider: bool
    accepting: bool
    services: frozenset[Service]
    counties: frozenset[str]
    endpoint: r.Endpoint


@dataclass(frozen=True)
class Directory:
    version: str
    providers: tuple[Provider, ...]

    def get(self, provider_id: str) -> Provider:
        return next(p for p in self.providers if p.id == provider_id)


@dataclass(frozen=True)
class Candidate:
    provider: Provider
    purpose: Purpose
    reasons: tuple[str, ...]


def load_directory(path: Path = SAMPLE_DIRECTORY) -> Directory:
    data = yaml.safe_load(path.read_text())
    providers = tuple(Provider(
        id=p["id"], name=p["name"], health_care_provider=bool(p["health_care_provider"]),
        accepting=bool(p.get("accepting", True)), services=frozenset(Service(s) for s in p["services"]),
        counties=frozenset(c.lower() for c in p.get("counties", [])), endpoint=r.Endpoint(**p["endpoint"]))
        for p in data["providers"])
    return Directory(version=str(data["version"]), providers=providers)


def route(request: r.Referral, directory: Directory, county: str = "",
          exclude: frozenset[str] = frozenset()) -> list[Candidate]:
    """One candidate per recipient: the first accepting provider of the service in the area."""
    for provider in directory.providers:
        if provider.id in exclude or not provider.accepting or request.service not in provider.services:
            continue
        if county and provider.counties and county.lower() not in provider.counties:
            continue
        purpose = Purpose.TREATMENT if provider.health_care_provider else Purpose.CARE_COORDINATION
        reasons = (f"offers {request.service.value}", f"serves {county or 'any area'}",
                   f"directory {directory.version}")
        return [Candidate(provider, purpose, reasons)]
    return []
