"""Writes the sample provider directory (fictional organisations) as a FHIR R4 Bundle.

    .venv/bin/python -m pipeline.route.make_sample_directory

The output, pipeline/route/data/sample-directory.json, ships as the default directory.
Conventions Handoff reads (pipeline/route/directory.py):
- Organization.type `prov` (healthcare provider, terminology.hl7.org organization-type)
  marks a health-care provider; the legal basis of a disclosure depends on it.
- extension urn:handoff:part2-programme marks a 42 CFR Part 2 programme, and
  urn:handoff:law-enforcement a law-enforcement organisation (never sent SUD status).
- HealthcareService.type codes are Handoff services (urn:handoff:service), category the
  HL7 service-category; coverageArea → Location with address.district (county) and
  postalCode, or the location-boundary-geojson extension (a polygon);
  availableTime are the hours; communication the languages; eligibility a code
  (adults, youth, any); extensions urn:handoff:accepting-referrals and urn:handoff:capacity.
- Endpoint.connectionType: hl7-fhir-rest, hl7v2-mllp, direct-project (endpoint-connection-type)
  or handoff-inbox / webhook (urn:handoff:endpoint-type); address the target.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "sample-directory.json"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
CONN = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
HANDOFF_CONN = "urn:handoff:endpoint-type"
ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# Most sample endpoints are Handoff's own inbox; one provider per other endpoint kind is backed by
# a local peer that `make run` starts (connectors/peers/demo.py puts in the ports it got, or the
# inbox when a peer cannot run): a HAPI FHIR server, an MLLP receiver, a Direct HISP (SMTP).
# A rough polygon around a fictional city centre (lon, lat), for point-in-polygon areas.
CITY_POLYGON = {"type": "Polygon", "coordinates": [[[-89.75, 39.70], [-89.55, 39.70], [-89.55, 39.88],
                                                     [-89.75, 39.88], [-89.75, 39.70]]]}

PROVIDERS = [
    # id, name, health-care provider, services, counties, zips, polygon, hours, languages, capacity, endpoint
    ("org-bridge-clinic", "Bridge Clinic (MOUD)", True, ["sud-treatment"], ["Sangamon", "Menard"], [], None,
     ("08:00:00", "20:00:00", ALL_WEEK[:6]), ["en", "es"], 12, ("handoff-inbox", HANDOFF_CONN, "org-bridge-clinic")),
    ("org-harbor-recovery", "Harbor Recovery Center", True, ["sud-treatment"], ["Sangamon", "Logan", "Menard"], [],
     None, None, ["en"], 5, ("handoff-inbox", HANDOFF_CONN, "org-harbor-recovery")),
    ("org-peer-recovery", "Recovery Coaches Network", False, ["peer-recovery"], ["Sangamon"], [], None, None,
     ["en", "es"], 30, ("handoff-inbox", HANDOFF_CONN, "org-peer-recovery")),
    ("org-crisis-center", "County Crisis Center", True, ["mh-crisis-followup"], ["Sangamon", "Menard", "Logan"], [],
     None, None, ["en"], 20, ("handoff-inbox", HANDOFF_CONN, "org-crisis-center")),
    ("org-mobile-crisis", "Mobile Crisis Team", True, ["mh-crisis-followup"], [], [], CITY_POLYGON,
     ("00:00:00", "23:59:59", ALL_WEEK), ["en"], 4, ("handoff-inbox", HANDOFF_CONN, "org-mobile-crisis")),
    ("org-housing-first", "Housing First Partners", False, ["housing-social"], ["Sangamon"], ["62701", "62702"],
     None, ("09:00:00", "17:00:00", ALL_WEEK[:5]), ["en"], 8, ("handoff-inbox", HANDOFF_CONN, "org-housing-first")),
    ("org-logan-behavioral", "Logan Behavioral Health", True, ["mh-crisis-followup"], ["Logan"], [], None, None,
     ["en"], 30, ("hl7-fhir-rest", CONN, "http://127.0.0.1:8481/fhir")),
    ("org-capital-crisis", "Capital Crisis Line", True, ["mh-crisis-followup"], ["Sangamon", "Menard"], [], None, None,
     ["en"], 30, ("hl7v2-mllp", CONN, "mllps://127.0.0.1:2576")),
    ("org-menard-recovery", "Menard Recovery Clinic", True, ["sud-treatment"], ["Menard"], [], None, None,
     ["en"], 15, ("direct-project", CONN, "intake@direct.menard-recovery.test")),
]
ELIGIBILITY = {"org-bridge-clinic": "adults", "org-harbor-recovery": "adults"}
CO_RESPONDER = {"org-mobile-crisis"}
# A co-responder team's dispatch console: a second Endpoint of its service, where dispatch-time alerts go
# (issue 20); `make run` starts a webhook receiver and puts in its port (connectors/peers/demo.py).
ALERT_WEBHOOKS = {"org-mobile-crisis": "https://127.0.0.1:8482/alerts"}
PART2 = {"org-bridge-clinic", "org-harbor-recovery"}  # federally assisted SUD treatment programmes


def build() -> dict:
    entries = []
    for (pid, name, clinical, services, counties, zips, polygon, hours, languages, capacity,
         (conn, system, address)) in PROVIDERS:
        org = {"resourceType": "Organization", "id": pid, "active": True, "name": name,
               "type": [{"coding": [{"system": ORG_TYPE, "code": "prov" if clinical else "cg"}]}]}
        endpoint = {"resourceType": "Endpoint", "id": f"{pid}-endpoint", "status": "active",
                    "connectionType": {"system": system, "code": conn}, "managingOrganization":
                    {"reference": f"Organization/{pid}"}, "payloadType": [{"text": "referral"}], "address": address}
        alerts = [{"resourceType": "Endpoint", "id": f"{pid}-alerts", "status": "active",
                   "connectionType": {"system": HANDOFF_CONN, "code": "webhook"},
                   "managingOrganization": {"reference": f"Organization/{pid}"},
                   "payloadType": [{"text": "dispatch-alert"}], "address": ALERT_WEBHOOKS[pid]}
                  ] if pid in ALERT_WEBHOOKS else []
        area_refs, locations = [], []
        for i, county in enumerate(counties):
            locations.append({"resourceType": "Location", "id": f"{pid}-area-{i}", "name": f"{county} County",
                              "address": {"district": county, "state": "IL"}})
        for i, zip_code in enumerate(zips):
            locations.append({"resourceType": "Location", "id": f"{pid}-zip-{i}", "address": {"postalCode": zip_code}})
        if polygon:
            data = base64.b64encode(json.dumps(polygon).encode()).decode()
            locations.append({"resourceType": "Location", "id": f"{pid}-polygon", "name": "service polygon",
                              "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/location-boundary-geojson",
                                             "valueAttachment": {"contentType": "application/geo+json", "data": data}}]})
        area_refs = [{"reference": f"Location/{loc['id']}"} for loc in locations]
        service = {
            "resourceType": "HealthcareService", "id": f"{pid}-service", "active": True, "name": name,
            "providedBy": {"reference": f"Organization/{pid}"},
            "type": [{"coding": [{"system": "urn:handoff:service", "code": s}]} for s in services],
            "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": lang}]} for lang in languages],
            "coverageArea": area_refs, "endpoint": [{"reference": f"Endpoint/{e['id']}"} for e in [endpoint, *alerts]],
            "eligibility": [{"code": {"coding": [{"system": "urn:handoff:eligibility",
                                                  "code": ELIGIBILITY.get(pid, "any")}]}}],
            "extension": [{"url": "urn:handoff:accepting-referrals", "valueBoolean": True},
                          {"url": "urn:handoff:capacity", "valueInteger": capacity},
                          {"url": "urn:handoff:co-responder", "valueBoolean": pid in CO_RESPONDER},
                          {"url": "urn:handoff:part2-programme", "valueBoolean": pid in PART2}]}
        if hours:
            service["availableTime"] = [{"daysOfWeek": hours[2], "availableStartTime": hours[0],
                                         "availableEndTime": hours[1]}]
        for resource in [org, endpoint, *alerts, *locations, service]:
            entries.append({"fullUrl": f"urn:handoff:directory:{resource['resourceType']}/{resource['id']}",
                            "resource": resource})
    return {"resourceType": "Bundle", "id": "handoff-sample-directory", "type": "collection",
            "meta": {"versionId": "sample-3"}, "entry": entries}


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
