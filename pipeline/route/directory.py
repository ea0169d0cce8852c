"""The provider directory: FHIR Organization, HealthcareService, Location and Endpoint
resources, from a Bundle file or a FHIR server, turned into plain `Provider` values.

`DirectorySource` reloads without a restart: a file when its modification time changes,
a server after a time-to-live. A bad reload keeps the previous directory and says why.
See make_sample_directory.py for the conventions read here.
"""
from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle

from pipeline import geo
from pipeline import records as r
from pipeline.vocab import Service

log = logging.getLogger(__name__)
SAMPLE_DIRECTORY = Path(__file__).resolve().parent / "data" / "sample-directory.json"
ENDPOINT_KINDS = {"hl7-fhir-rest": "fhir-rest", "hl7v2-mllp": "hl7v2-mllp", "direct-project": "direct",
                  "handoff-inbox": "inbox", "webhook": "webhook"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DirectoryError(ValueError):
    pass


@dataclass(frozen=True)
class Hours:
    days: frozenset[str]
    start: clock_time
    end: clock_time


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    health_care_provider: bool
    accepting: bool
    services: frozenset[Service]
    endpoint: r.Endpoint
    counties: tuple[frozenset[str], ...] = ()  # each county's geo.county_keys (FIPS code and name)
    zips: frozenset[str] = frozenset()
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()  # rings of (longitude, latitude)
    hours: tuple[Hours, ...] = ()  # empty: any time
    languages: frozenset[str] = frozenset()
    eligibility: str = "any"  # adults, youth, any
    capacity: int | None = None
    co_responder: bool = False
    part2_programme: bool = False  # holds itself out as SUD diagnosis/treatment/referral (42 CFR 2.11)
    law_enforcement: bool = False  # never a recipient of SUD status (the consent policy has no rule for it)
    alert_endpoint: r.Endpoint | None = None  # a webhook for dispatch-time alerts besides `endpoint` (issue 20)


@dataclass(frozen=True)
class Directory:
    version: str
    providers: tuple[Provider, ...]

    def get(self, provider_id: str) -> Provider:
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise KeyError(provider_id)


def parse_directory(bundle: dict) -> Directory:
    """A FHIR Bundle (collection or searchset) of directory resources → a Directory."""
    try:
        Bundle.model_validate(bundle)
    except Exception as e:  # pydantic's error names the first bad element
        raise DirectoryError(f"not a valid FHIR R4 Bundle: {str(e).splitlines()[0]}") from None
    resources = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
                 for e in bundle.get("entry", []) if "resource" in e and "id" in e["resource"]}
    providers = []
    for ref, service in resources.items():
        if not ref.startswith("HealthcareService/"):
            continue
        org = resources.get(service.get("providedBy", {}).get("reference", ""))
        endpoints = [resources.get(e.get("reference", "")) for e in service.get("endpoint", [])]
        endpoint = next((e for e in endpoints if e and e.get("status") == "active"), None)
        if org is None or endpoint is None:
            raise DirectoryError(f"{ref}: needs a providedBy Organization and an active Endpoint in the bundle")
        provider = _provider(service, org, endpoint, [resources.get(a.get("reference", ""))
                                                      for a in service.get("coverageArea", [])])
        webhook = next((e for e in endpoints if e and e is not endpoint and e.get("status") == "active"
                        and e.get("connectionType", {}).get("code") == "webhook"), None)
        if webhook is not None:  # a further Endpoint of the service: where its dispatch-time alerts go
            provider = replace(provider, alert_endpoint=r.Endpoint(kind="webhook", address=webhook["address"]))
        providers.append(provider)
    version = bundle.get("meta", {}).get("versionId") or bundle.get("id", "unversioned")
    return Directory(version=str(version), providers=tuple(providers))


def _provider(service: dict, org: dict, endpoint: dict, areas: list[dict | None]) -> Provider:
    codes = [c.get("code") for t in service.get("type", []) for c in t.get("coding", [])]
    services = frozenset(Service(c) for c in codes if c in Service._value2member_map_)
    conn = endpoint.get("connectionType", {}).get("code", "")
    if conn not in ENDPOINT_KINDS:
        raise DirectoryError(f"Endpoint/{endpoint.get('id')}: connection type {conn!r} is not supported")
    counties, zips, polygons = [], set(), []
    for area in filter(None, areas):
        address = area.get("address", {})
        if address.get("district"):  # a name ("Sangamon", "Sangamon County") or a 5-digit FIPS code
            keys = geo.county_keys(address["district"], address.get("state", ""))
            if keys and keys not in counties:
                counties.append(keys)
        if address.get("postalCode"):
            zips.add(address["postalCode"][:5])
        for ext in area.get("extension", []):
            if ext.get("url", "").endswith("location-boundary-geojson"):
                shape = json.loads(base64.b64decode(ext["valueAttachment"]["data"]))
                polygons += [tuple((float(x), float(y)) for x, y in ring[0]) for ring in _polygons(shape)]
    ext = {e["url"]: e for e in service.get("extension", [])}
    org_types = {c.get("code") for t in org.get("type", []) for c in t.get("coding", [])}
    return Provider(
        id=org["id"], name=org.get("name", org["id"]), health_care_provider="prov" in org_types,
        accepting=bool(service.get("active", True)) and ext.get("urn:handoff:accepting-referrals",
                                                                 {}).get("valueBoolean", True),
        services=services, endpoint=r.Endpoint(kind=ENDPOINT_KINDS[conn], address=endpoint["address"]),
        counties=tuple(counties), zips=frozenset(zips), polygons=tuple(polygons),
        hours=tuple(Hours(frozenset(t.get("daysOfWeek", DAYS)), clock_time.fromisoformat(t["availableStartTime"]),
                          clock_time.fromisoformat(t["availableEndTime"]))
                    for t in service.get("availableTime", []) if "availableStartTime" in t),
        languages=frozenset(c.get("code") for lang in service.get("communication", [])
                            for c in lang.get("coding", [])),
        eligibility=next((c.get("code") for e in service.get("eligibility", [])
                          for c in e.get("code", {}).get("coding", [])), "any"),
        capacity=ext.get("urn:handoff:capacity", {}).get("valueInteger"),
        co_responder=ext.get("urn:handoff:co-responder", {}).get("valueBoolean", False),
        part2_programme=ext.get("urn:handoff:part2-programme", {}).get("valueBoolean", False),
        law_enforcement=ext.get("urn:handoff:law-enforcement", {}).get("valueBoolean", False))


def _polygons(geo: dict) -> list:
    if geo.get("type") == "Polygon":
        return [geo["coordinates"]]
    if geo.get("type") == "MultiPolygon":
        return list(geo["coordinates"])
    raise DirectoryError(f"boundary {geo.get('type')!r}: only Polygon and MultiPolygon")


@dataclass
class DirectorySource:
    """Where the directory comes from, and the copy in use; reloads without a restart.

    `location` is a file path, or a FHIR base URL (http/https) searched with
    HealthcareService?_include=providedBy,endpoint,coverage-area, following `next` links.
    """

    location: str = str(SAMPLE_DIRECTORY)
    ttl: float = 300.0
    _directory: Directory | None = field(default=None, repr=False)
    _stamp: float = field(default=0.0, repr=False)
    last_error: str = ""

    def current(self) -> Directory:
        try:
            if self._directory is None or self._stale():
                self._directory = self._load()
                self.last_error = ""
        except (DirectoryError, OSError, httpx.HTTPError, ValueError) as e:
            if self._directory is None:
                raise DirectoryError(f"directory {self.location}: {e}") from None
            self.last_error = str(e)
            log.warning("directory reload failed, keeping version %s: %s", self._directory.version, e)
        return self._directory

    def _is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def _stale(self) -> bool:
        if self._is_url():
            return time.monotonic() - self._stamp > self.ttl
        return Path(self.location).stat().st_mtime != self._stamp

    def _load(self) -> Directory:
        if not self._is_url():
            path = Path(self.location)
            stamp = path.stat().st_mtime
            directory = parse_directory(json.loads(path.read_text()))
            self._stamp = stamp
            return directory
        directory = parse_directory(_search(self.location))
        self._stamp = time.monotonic()
        return directory


def _search(base: str, page_limit: int = 50) -> dict[str, Any]:
    url = (f"{base.rstrip('/')}/HealthcareService?_include=HealthcareService:providedBy"
           "&_include=HealthcareService:endpoint&_include=HealthcareService:coverage-area&_count=100")
    entries: list = []
    meta: dict = {}
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        for _ in range(page_limit):
            response = client.get(url, headers={"Accept": "application/fhir+json"})
            response.raise_for_status()
            page = response.json()
            meta = meta or page.get("meta", {})
            entries += page.get("entry", [])
            url = next((link["url"] for link in page.get("link", []) if link.get("relation") == "next"), None)
            if not url:
                break
    return {"resourceType": "Bundle", "type": "collection", "meta": meta, "entry": entries}
