"""The whole topology on the real broker: EMS runs in, payloads in the inbox, audit records out."""
from __future__ import annotations

import json
import re

import pytest

from handoff.demo import main, sample_runs
from pipeline.settings import Settings

pytestmark = pytest.mark.kafka


async def test_the_sample_goes_through_to_delivered_payloads_and_their_audit_records(kafka, catalogue, tmp_path,
                                                                                    capsys):
    from pipeline.storage import open_store

    db = tmp_path / "handoff.db"
    settings = Settings(environment="test", kafka={"topic_prefix": catalogue.prefix,
                                                   "consumer_group": f"g-{catalogue.prefix}"},
                        storage={"url": f"sqlite:///{db}"}, metrics={"port": 0})
    summary = await main(settings, once=True, sample=40, bootstrap=kafka.bootstrap,
                         fhir_server=False)  # the HAPI FHIR server: test_delivery
    out = capsys.readouterr().out
    assert "Handoff demo run" in out and "fed 40 sample EMS runs" in out

    store = open_store(f"sqlite:///{db}")
    with store.transaction() as tx:
        inbox = tx.fetchall("SELECT delivery_id, referral_id, recipient_id, payload FROM inbox_item")
        audits = tx.fetchall("SELECT kind, referral_id FROM audit_record")
        states = tx.fetchall("SELECT referral_id, state FROM referral_state")
        sent = tx.fetchall("SELECT referral_id, endpoint_kind FROM delivery_ledger WHERE sent_message_id IS NOT NULL")
    store.close()
    assert inbox, "no payload reached the inbox"
    kinds = {a["kind"] for a in audits}
    assert {"detection", "referral-request", "decision", "delivery-result", "status-change"} <= kinds
    disclosed = {a["referral_id"] for a in audits if a["kind"] == "delivery-result"}
    decided = {a["referral_id"] for a in audits if a["kind"] == "decision"}
    for item in inbox:  # every delivered payload has its decision and disclosure on record
        assert item["referral_id"] in disclosed and item["referral_id"] in decided
        bundle = json.loads(item["payload"])
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "message"
    assert {s["state"] for s in states} == {"requested"}
    assert {s["referral_id"] for s in states} == {x["referral_id"] for x in sent}  # what the ledger says went out
    assert {i["referral_id"] for i in inbox} == {x["referral_id"] for x in sent if x["endpoint_kind"] == "inbox"}
    assert "fhir-rest" not in summary["delivered_by_endpoint"] and "FHIR server not started" in out
    # every sample run and every sample 911 call version was classified: one detection audit each
    calls = int(re.search(r"fed (\d+) sample 911 call versions", out).group(1))
    assert calls > 0 and sum(1 for a in audits if a["kind"] == "detection") == 40 + calls


def test_the_sample_is_fixed_and_mixes_crises_with_ordinary_calls():
    from pipeline.detect import classify_run, load_rules

    runs = sample_runs(40)
    assert [r.pcr_number for r in runs] == [r.pcr_number for r in sample_runs(40)]
    rules = load_rules()
    flagged = sum(1 for run in runs if classify_run(run, rules).categories)
    assert 5 <= flagged <= 35
