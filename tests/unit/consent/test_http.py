"""The Consent endpoint, through Starlette's TestClient (the real ASGI app in-process)."""
from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from pipeline.clock import FixedClock
from pipeline.consent import Registry
from pipeline.consent.fhir import to_fhir
from tests.unit.consent.test_gate import PERSON, T0, consent


def client(store) -> TestClient:
    from pipeline.consent.http import ConsentService

    authorize = lambda request: "agency:outreach-1" if request.headers.get("x-api-key") == "k" else None  # noqa
    service = ConsentService(Registry(store), authorize, clock=FixedClock(T0))
    return TestClient(Starlette(routes=[Mount("/v1/consents", routes=service.routes())]))


def test_post_revoke_and_get_a_consent(migrated):
    http, key = client(migrated), {"x-api-key": "k", "content-type": "application/fhir+json"}
    body = json.dumps(to_fhir(PERSON, consent()))
    assert http.post("/v1/consents/", content=body, headers={"content-type": "application/fhir+json"}).status_code == 401
    created = http.post("/v1/consents/", content=body, headers=key)
    assert created.status_code == 201 and created.json()["complete"] is True
    assert created.json()["registry_version"] == 1
    incomplete = json.dumps(to_fhir(PERSON, consent("c-2", artefact_ref="")))
    assert http.post("/v1/consents/", content=incomplete, headers=key).json()["missing_elements"] == ["signature", "date"]
    assert http.post("/v1/consents/", content="{", headers=key).status_code == 422
    assert http.post("/v1/consents/", content=body, headers={"x-api-key": "k", "content-type": "text/plain"}
                     ).status_code == 415
    revoked = http.post("/v1/consents/c-1/$revoke", headers=key)
    assert revoked.status_code == 200 and revoked.json()["registry_version"] == 3
    shown = http.get("/v1/consents/c-1", headers=key).json()
    assert shown["status"] == "inactive" and shown["patient"]["identifier"]["value"] == PERSON.person_token
    assert http.get("/v1/consents/nope", headers=key).status_code == 404
    assert http.post("/v1/consents/nope/$revoke", headers=key).status_code == 404
