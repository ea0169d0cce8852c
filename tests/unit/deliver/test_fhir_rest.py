"""FHIR REST delivery to a real HAPI FHIR server on loopback (started once per session): SMART
Backend Services tokens (RS384, ES384; cached, refreshed), $process-message where the
CapabilityStatement offers it, else a transaction of PUTs on the deterministic ids, and the
classification of the server's answers."""
from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest

from connectors.fhir_rest import FhirRestConnector, classify, offers_process_message, transaction
from connectors.fhir_rest.smart import SmartAuth, assertion
from pipeline.deliver import Ambiguous
from pipeline.errors import Permanent, Transient
from pipeline.render import referring_party, render_cancel
from pipeline.vocab import Action
from tests.support.delivery import delivery, fhir_settings as settings, tasks
from tests.unit.render import cases as c


@pytest.mark.parametrize("key", ["rsa", "ec"])
async def test_process_message_with_a_smart_token_once_per_message(fhir_server, key):
    connector = FhirRestConnector(settings(fhir_server, key))
    d = delivery("fhir-rest", fhir_server.server.base, pid=f"org-pm-{key}")
    try:
        assert await connector.mode(fhir_server.server.base) == "process-message"
        first = await connector.deliver(d)
        again = await connector.deliver(d)  # the same MessageHeader.id: processed once
        assert first.detail == again.detail == "process-message 200"
        assert connector.auth.fetched == 1  # the token is cached
    finally:
        await connector.aclose()
    held = await tasks(fhir_server, d.referral_id)
    assert len(held) == 1 and held[0]["status"] == "requested" and held[0]["meta"]["versionId"] == "1"
    assert held[0]["id"] == next(e["resource"]["id"] for e in orjson.loads(d.payload)["entry"]
                                 if e["resource"]["resourceType"] == "Task")  # the deterministic id


async def test_transaction_puts_deterministic_ids_and_a_cancel_replaces_the_task(fhir_server):
    connector = FhirRestConnector(settings(fhir_server, mode="transaction"))
    d = delivery("fhir-rest", fhir_server.server.base, pid="org-tx")
    recipient = replace(c.provider("fhir-rest", "org-tx"), endpoint=d.endpoint)
    revoked = render_cancel(d.referral_id, d.person, recipient, "consent revoked", c.T0,
                            referring=referring_party(c.ems_request(), [c.ems_run(), c.incident()]))
    cancel = d.model_copy(update={"action": Action.CANCEL, "revision": 2, "message_id": revoked.message_id,
                                  "payload": revoked.body})
    try:
        for _ in range(3):  # a resend after a crash is the same PUTs
            assert (await connector.deliver(d)).detail == "transaction 200"
        await connector.deliver(cancel)
    finally:
        await connector.aclose()
    held = await tasks(fhir_server, d.referral_id)
    assert len(held) == 1 and held[0]["meta"]["versionId"] == "4" and held[0]["status"] == "cancelled"
    assert held[0]["focus"]["reference"].startswith("ServiceRequest/")  # references rewritten to ids


async def test_without_idempotency_a_resend_is_a_second_referral(fhir_server):
    connector = FhirRestConnector(settings(fhir_server), idempotent=False)
    d = delivery("fhir-rest", fhir_server.server.base, pid="org-no-idem")
    try:
        await connector.deliver(d)
        await connector.deliver(d)
    finally:
        await connector.aclose()
    assert len(await tasks(fhir_server, d.referral_id)) == 2


async def test_the_token_is_refreshed_when_it_runs_out_and_a_bad_assertion_is_refused(fhir_server):
    connector = FhirRestConnector(settings(fhir_server, mode="transaction"))
    d = delivery("fhir-rest", fhir_server.server.base, pid="org-refresh")
    try:
        await connector.deliver(d)
        connector.auth.expires = 0.0  # as if its expires_in had passed
        await connector.deliver(d)
        assert connector.auth.fetched == 2
        connector.auth.token = "not-a-token-the-server-gave"  # revoked server-side, say
        with pytest.raises(Transient, match="401"):
            await connector.deliver(d)
        await connector.deliver(d)  # the refused token was dropped: a fresh one
        assert connector.auth.fetched == 3
    finally:
        await connector.aclose()
    key = SmartAuth(fhir_server.client_id, fhir_server.server.token_url, fhir_server.rsa_key).key
    async with httpx.AsyncClient() as http:
        form = {"grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion(key, fhir_server.client_id, "https://elsewhere.example/token")}
        refused = await http.post(fhir_server.server.token_url, data=form)  # another audience
        replay = dict(form, client_assertion=assertion(key, fhir_server.client_id, fhir_server.server.token_url))
        assert (await http.post(fhir_server.server.token_url, data=replay)).status_code == 200
        reused = await http.post(fhir_server.server.token_url, data=replay)  # the same jti again
    assert refused.status_code == 400 and "aud" in refused.json()["error_description"]
    assert reused.status_code == 400 and "jti" in reused.json()["error_description"]


def test_classification_of_answers():
    def answer(status, **headers):
        return httpx.Response(status, headers=headers, json={"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "Task.status is required"}]})

    assert classify(answer(201)).status_code == 201
    with pytest.raises(Transient) as busy:
        classify(answer(429, **{"Retry-After": "7"}))
    assert busy.value.retry_after == 7.0
    for status in (500, 503, 408):
        with pytest.raises(Transient):
            classify(answer(status))
    with pytest.raises(Permanent, match="422: Task.status is required"):
        classify(answer(422))
    assert issubclass(Ambiguous, Transient)


def test_capability_and_transaction_shapes():
    assert offers_process_message({"rest": [{"mode": "server", "operation": [{"name": "process-message"}]}]})
    assert not offers_process_message({"rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]})
    d = delivery("fhir-rest", "http://127.0.0.1:1/fhir")
    tx = transaction(orjson.loads(d.payload))
    kinds = [e["resource"]["resourceType"] for e in tx["entry"]]
    assert "MessageHeader" not in kinds and all(e["request"]["method"] == "PUT" for e in tx["entry"])
    flat = [e["resource"] for e in tx["entry"] if e["resource"]["resourceType"] != "Bundle"]  # a nested Bundle
    assert flat and all(b"urn:uuid:" not in orjson.dumps(res) for res in flat)  # keeps its own references
