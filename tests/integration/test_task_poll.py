"""Providers' answers on the FHIR server: the provider's system moves the referral's Task (on the
real HAPI FHIR server of the test session); the task-poll pass reads it back, and track's state
machine moves the referral. Reading the same Task version again is a repeat."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from connectors.fhir_rest import FhirRestConnector
from pipeline import records as r
from pipeline.app import Deps, poll_provider_tasks
from pipeline.clock import FixedClock
from pipeline.kafka.producer import ProducerSink
from pipeline.render.ids import resource_uuid
from pipeline.settings import Settings
from pipeline.stage import Writer
from pipeline.storage import open_store
from pipeline.track import apply_status
from pipeline.vocab import ReferralState, StatusSource
from tests.support.delivery import amended, delivery, fhir_settings
from tests.support.kafka import consume

pytestmark = pytest.mark.kafka
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


async def put_task(connector, base: str, referral: str, status: str) -> None:
    task = {"resourceType": "Task", "id": resource_uuid(referral, "task"), "status": status, "intent": "order",
            "businessStatus": {"coding": [{"code": "3.0"}]}}
    await connector._call("PUT", f"{base}/Task/{task['id']}", orjson.dumps(task))


async def test_a_task_the_provider_accepted_moves_the_referral(kafka, catalogue, fhir_server, tmp_path):
    base = fhir_server.server.base
    store = open_store(f"sqlite:///{tmp_path / 'poll.db'}")
    store.migrate()
    with store.transaction(immediate=True) as tx:  # sent: the ledger records where it went
        tx.execute("INSERT INTO delivery_ledger (referral_id, recipient_id, person_token, state, message_id,"
                   " content_digest, sent_message_id, endpoint_kind, endpoint_address, updated_at) VALUES"
                   " ('ref-poll-1', 'org-fhir', 'tok', 'sent', 'm1', 'd', 'm1', 'fhir-rest', :base, :at)",
                   {"base": base, "at": NOW.isoformat()})
    sent = r.ReferralStatus(envelope=r.Envelope(event_id="sent-1", source_system="t", source_record_id="ref-poll-1",
                                                occurred_at=NOW, ingested_at=NOW, correlation_id="c"),
                            referral_id="ref-poll-1", state=ReferralState.REQUESTED, reported_by="test",
                            recipient_id="org-fhir")
    apply_status(store, sent, None, NOW)
    connector = FhirRestConnector(fhir_settings(fhir_server))
    deps = Deps.build(Settings(environment="test"), catalogue, store, {"fhir-rest": connector}, FixedClock(NOW))
    try:
        await put_task(connector, base, "ref-poll-1", "requested")
        async with ProducerSink(kafka.bootstrap) as sink:
            writer = Writer(catalogue, sink, "task-poll", outputs=("referral.status",))
            await poll_provider_tasks(deps, writer)  # still requested: nothing to say
            await put_task(connector, base, "ref-poll-1", "accepted")  # the provider's system answers
            await poll_provider_tasks(deps, writer)
            await poll_provider_tasks(deps, writer)  # the same version again
        statuses = await consume(kafka.bootstrap, catalogue["referral.status"], 2, timeout=10)
    finally:
        await connector.aclose()
    assert len(statuses) == 2 and statuses[0].envelope.event_id == statuses[1].envelope.event_id
    status = statuses[0]
    assert (status.state, status.source, status.recipient_id) == (ReferralState.ACCEPTED, StatusSource.PROVIDER,
                                                                  "org-fhir")
    assert apply_status(store, status, None, NOW).verdict.applied
    assert apply_status(store, statuses[1], None, NOW).duplicate  # the repeat changes nothing
    with store.transaction() as tx:
        assert tx.fetchone("SELECT state FROM referral_state WHERE referral_id = 'ref-poll-1'")["state"] == "accepted"
    store.close()


async def test_an_update_leaves_the_providers_answer_on_the_task(fhir_server):
    """An amended PCR after the provider accepted: the update revises the referral (its Patient, here
    a new phone number) and leaves the Task as the provider left it. It used to PUT the Task back as
    `requested`, and a task poll after it never saw the provider's accept (round 7, issue 28)."""
    base = fhir_server.server.base
    connector = FhirRestConnector(fhir_settings(fhir_server, mode="transaction"))
    create = delivery("fhir-rest", base, pid="org-task-answer")
    update = amended("fhir-rest", base, 2, "217-555-0177", "org-task-answer")
    task_url = f"{base}/Task/{resource_uuid(create.referral_id, 'task')}"
    try:
        await connector.deliver(create)
        task = (await connector._call("GET", task_url, None)).json()
        task["status"] = "accepted"  # the provider's system answers on the Task it was given
        await connector._call("PUT", task_url, orjson.dumps(task))
        await connector.deliver(update)
        after = (await connector._call("GET", task_url, None)).json()
        patient = (await connector._call("GET", f"{base}/Patient/{resource_uuid(create.referral_id, 'patient')}",
                                         None)).json()
    finally:
        await connector.aclose()
    assert after["status"] == "accepted" and after["meta"]["versionId"] == "2"  # not written since the answer
    assert "217-555-0177" in orjson.dumps(patient).decode()  # the update itself reached the server
