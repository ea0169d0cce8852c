"""Routing geography and needs, as tables of cases: a directory written the way a county writes it
(county names, ZIP codes, a boundary), PCRs carrying FIPS codes and coordinates (issue 16)."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline import records as r
from pipeline.route import facts_of, load_routing_rules, parse_directory, place_of, route
from pipeline.vocab import Category as C
from pipeline.vocab import Service
from tests.support.factory import ems_run

T0 = datetime(2026, 3, 16, 15, 0, tzinfo=timezone.utc)
RULES = load_routing_rules()
CITY = {"type": "Polygon", "coordinates": [[[-89.75, 39.70], [-89.55, 39.70], [-89.55, 39.88], [-89.75, 39.88],
                                            [-89.75, 39.70]]]}


def _provider(pid: str, **area) -> list[dict]:
    location = {"resourceType": "Location", "id": f"{pid}-area", "name": "service area"}
    if "district" in area or "zip" in area:
        location["address"] = {k: v for k, v in (("district", area.get("district")), ("state", area.get("state")),
                                                 ("postalCode", area.get("zip"))) if v}
    if "boundary" in area:
        location["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/location-boundary-geojson",
                                  "valueAttachment": {"contentType": "application/geo+json", "data": base64.b64encode(
                                      json.dumps(area["boundary"]).encode()).decode()}}]
    return [
        {"resourceType": "Organization", "id": pid, "name": pid, "active": True},
        {"resourceType": "Endpoint", "id": f"{pid}-ep", "status": "active", "address": pid,
         "connectionType": {"system": "urn:handoff:endpoint-type", "code": "handoff-inbox"},
         "payloadType": [{"text": "referral"}]},
        location,
        {"resourceType": "HealthcareService", "id": f"{pid}-svc", "active": True, "providedBy": {"reference":
                                                                                                f"Organization/{pid}"},
         "type": [{"coding": [{"system": "urn:handoff:service", "code": "mh-crisis-followup"}]}],
         "coverageArea": [{"reference": f"Location/{pid}-area"}], "endpoint": [{"reference": f"Endpoint/{pid}-ep"}]},
    ]


# A county's own directory: names as people write them, a FIPS code where a clerk pasted one, a ZIP, a boundary
COUNTY_DIRECTORY = parse_directory({"resourceType": "Bundle", "type": "collection", "id": "county-dir", "entry": [
    {"fullUrl": f"urn:x:{res['resourceType']}/{res['id']}", "resource": res} for res in [
        *_provider("org-sangamon-bh", district="Sangamon County", state="IL"),
        *_provider("org-menard-bh", district="17129"),
        *_provider("org-washington-il", district="Washington", state="IL"),
        *_provider("org-zip-62702", zip="62702"),
        *_provider("org-city-team", boundary=CITY)]]})


def addr(county="", state="", code="", zip_code="", lat=None, lon=None) -> r.Address:
    return r.Address(county=county, state=state, county_code=code, zip=zip_code, latitude=lat, longitude=lon)


CASES = [
    # (case, home, scene, {provider: words its reason must contain})
    ("NEMSIS home: FIPS code with its name", addr("Sangamon County", "IL", "17167"), None,
     {"org-sangamon-bh": "home Sangamon County (FIPS 17167)"}),
    ("home named without the word County", addr("sangamon", "IL"), None,
     {"org-sangamon-bh": "home sangamon (FIPS 17167)"}),
    ("home as a bare FIPS code, no state", addr("17167"), None, {"org-sangamon-bh": "home Sangamon County"}),
    ("directory gives FIPS, record gives the name", addr("Menard", "IL"), None, {"org-menard-bh": "FIPS 17129"}),
    ("same county name in another state is not a match", addr("Washington County", "IN", "18175"), None, {}),
    ("same county name, same state", addr("Washington County", "IL", "17189"), None,
     {"org-washington-il": "home Washington County (FIPS 17189)"}),
    ("ZIP", addr(zip_code="62702-1234"), None, {"org-zip-62702": "home ZIP 62702"}),
    ("home elsewhere, scene inside the boundary (coordinates from eScene.11)", addr("Cook County", "IL", "17031"),
     addr("Sangamon County", "IL", "17167", lat=39.80, lon=-89.65),
     {"org-city-team": "scene inside its service polygon", "org-sangamon-bh": "scene Sangamon County"}),
    ("home and scene both covered by one provider: home wins", addr("Sangamon County", "IL", "17167"),
     addr(zip_code="62702"), {"org-sangamon-bh": "home Sangamon", "org-zip-62702": "scene ZIP 62702"}),
    ("no home address: the scene", None, addr("Menard County", "IL", "17129"), {"org-menard-bh": "scene Menard"}),
    ("nowhere known", None, None, {}),
    ("an address is never a point: home in the city, no coordinates", addr(zip_code="62704"), None, {}),
]


@pytest.mark.parametrize("case, home, scene, expected", CASES, ids=[c[0] for c in CASES])
def test_county_zip_and_boundary_coverage_home_then_scene(case, home, scene, expected):
    request = r.ReferralRequest(envelope=ems_run("P").envelope, request_id="q", person=r.PersonKey(person_token="t",
                                                                                            key_version=1),
                         episode_id="e", service=Service.MH_CRISIS_FOLLOWUP)
    found = {c.provider.id: c.reasons[1] for c in route(request, COUNTY_DIRECTORY, RULES, place_of(home, scene), T0)}
    assert set(found) == set(expected), found
    for pid, words in expected.items():
        assert words in found[pid], found[pid]


def test_a_home_match_ranks_before_a_scene_fallback():
    request = r.ReferralRequest(envelope=ems_run("P").envelope, request_id="q", person=r.PersonKey(person_token="t",
                                                                                            key_version=1),
                         episode_id="e", service=Service.MH_CRISIS_FOLLOWUP)
    cascade = route(request, COUNTY_DIRECTORY, RULES, place_of(addr(zip_code="62702"),
                                                                addr("Sangamon", "IL")), T0)
    assert [c.provider.id for c in cascade] == ["org-zip-62702", "org-sangamon-bh"]


NEEDS = [
    # (categories, facts, services)
    ((C.OVERDOSE, C.SUICIDE_RISK, C.BEHAVIORAL_HEALTH), (), [Service.MH_CRISIS_FOLLOWUP]),  # intentional, no use
    ((C.OVERDOSE,), (), [Service.SUD_TREATMENT]),
    ((C.OVERDOSE, C.SUBSTANCE_USE), (), [Service.SUD_TREATMENT]),
    ((C.OVERDOSE, C.SUICIDE_RISK, C.SUBSTANCE_USE, C.BEHAVIORAL_HEALTH), (),
     [Service.SUD_TREATMENT, Service.MH_CRISIS_FOLLOWUP]),
    ((C.OVERDOSE, C.OPIOID_OVERDOSE, C.SUBSTANCE_USE), (), [Service.SUD_TREATMENT, Service.PEER_RECOVERY]),
    ((C.OVERDOSE, C.OPIOID_OVERDOSE, C.SUICIDE_RISK, C.BEHAVIORAL_HEALTH), (), [Service.MH_CRISIS_FOLLOWUP]),
    ((C.BEHAVIORAL_HEALTH,), ("homeless",), [Service.MH_CRISIS_FOLLOWUP, Service.HOUSING_SOCIAL]),
    ((), ("homeless",), [Service.HOUSING_SOCIAL]),
    ((), (), []),
]


@pytest.mark.parametrize("categories, facts, services", NEEDS)
def test_the_needs_table_has_conditions(categories, facts, services):
    assert RULES.services_for(categories, facts) == services


def test_homelessness_is_a_fact_where_the_record_says_so():
    assert facts_of([ems_run("A", patient=r.Person(residence="2522001"))]) == {"homeless"}
    assert facts_of([ems_run("B", primary_impression=r.Coded(code="Z59.01", system="icd"))]) == {"homeless"}
    assert facts_of([ems_run("C", primary_impression=r.Coded(code="Z59.01", pn="8801031"))]) == frozenset()
    assert facts_of([ems_run("D", patient=r.Person(residence="2522003"))]) == frozenset()  # migrant worker


def test_the_grounds_of_a_service_are_the_categories_that_called_for_it():
    cats = [C.OVERDOSE, C.SUICIDE_RISK, C.SUBSTANCE_USE, C.BEHAVIORAL_HEALTH]
    assert RULES.grounds(Service.SUD_TREATMENT, cats) == {C.OVERDOSE, C.SUBSTANCE_USE}
    assert RULES.grounds(Service.MH_CRISIS_FOLLOWUP, cats) == {C.SUICIDE_RISK, C.BEHAVIORAL_HEALTH}


NEMSIS_CASE = Path(__file__).resolve().parents[4] / "shared" / "nemsis" / "v3.5.1" / "compliance" / "full" / \
    "2025-EMS-1-Overdose_v351.xml"
DANBURY = {"type": "Polygon", "coordinates": [[[-73.50, 41.35], [-73.40, 41.35], [-73.40, 41.45], [-73.50, 41.45],
                                               [-73.50, 41.35]]]}


def _sud(pid: str, **area) -> list[dict]:
    found = _provider(pid, **area)
    found[-1]["type"][0]["coding"][0]["code"] = "sud-treatment"
    found[0]["type"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                     "code": "prov"}]}]
    return found


@pytest.mark.skipif(not NEMSIS_CASE.exists(), reason="../shared NEMSIS compliance cases are absent")
def test_a_real_pcr_with_fips_codes_reaches_county_and_boundary_providers(tmp_path):
    """The NEMSIS overdose case (home county 09001, scene coordinates in Danbury) against a directory
    that names Fairfield County and draws a Danbury boundary: before, no county- or polygon-covered
    provider was ever found on real PCRs."""
    from connectors.nemsis import parse_emsdataset
    from tests.unit.connectors.helpers import make_ctx, records
    from tests.unit.render.test_render_cli import refer

    run = records(parse_emsdataset(NEMSIS_CASE.read_bytes(), make_ctx()))[0]
    bundle = {"resourceType": "Bundle", "type": "collection", "id": "fairfield", "entry": [
        {"fullUrl": f"urn:x:{res['resourceType']}/{res['id']}", "resource": res} for res in [
            *_sud("org-fairfield-county", district="Fairfield County", state="CT"),
            *_sud("org-danbury-team", boundary=DANBURY)]]}
    request = r.ReferralRequest(envelope=run.envelope, request_id="q", person=r.PersonKey(person_token="t", key_version=1),
                         episode_id="e", service=Service.SUD_TREATMENT)
    found = {c.provider.id: c.reasons[1] for c in route(request, parse_directory(bundle), RULES,
                                                        place_of(run.patient.address, run.scene), T0)}
    assert found == {"org-fairfield-county": "serves home Fairfield County (FIPS 09001)",
                     "org-danbury-team": "scene inside its service polygon"}
    path = tmp_path / "fairfield.json"
    path.write_text(json.dumps(bundle))
    result, rows = refer(str(NEMSIS_CASE), "--out", str(tmp_path / "out"), "--directory", str(path))
    assert result.exit_code == 0, result.output
    assert [row["recipient"] for row in rows] == ["org-fairfield-county"]  # home first; fan-out 1
