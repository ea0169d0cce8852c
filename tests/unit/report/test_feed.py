"""The surveillance feed from a generated set of EMS runs with made-up people: every recognised
overdose is on it (with or without a referral, died or not), gated by the policy; nothing on
it (topic records, CSV, JSON) carries a name, a date of birth, an exact address or a record
number; an area over its 24-hour threshold fires a spike alert to a real HTTPS webhook."""
from __future__ import annotations

import json
import math
import re
from datetime import timedelta

import pytest
from pydantic import SecretStr

from connectors.webhook import WebhookConnector
from pipeline.detect import classify_run, load_rules
from pipeline.episode import state as episodes
from pipeline.report import feed
from pipeline.report.stages import report_detection
from pipeline.report.store import overdoses, spikes
from pipeline.settings import AlertSettings
from pipeline.topics import Catalogue
from pipeline.vocab import SourceRole
from tests.unit.alerts.test_webhook import KEY, certs, receiver  # noqa: F401 (fixtures)
from tests.unit.report.overdoses import START, cases, context, deps

RULES = load_rules()


async def feed_all(d, chosen, at=START):
    outputs = []
    for case in chosen:
        episodes.save_record(d.store, "ems.run", case.run, case.run.key, START)
        result = await report_detection(d, classify_run(case.run, RULES), context(at))
        outputs += result.outputs
    return outputs


def forbidden(chosen) -> set[str]:
    """Every identifying string of the test set, in the forms it could appear in."""
    out = set()
    for case in chosen:
        p, scene = case.run.patient, case.run.scene
        out |= {p.family, p.given, p.phone, scene.street, scene.street.split(" ", 1)[0] + " " + scene.street.split()[1],
                case.run.pcr_number, case.run.key.incident_number}
        b = p.birth_date
        out |= {b.isoformat(), b.strftime("%m/%d/%Y"), b.strftime("%Y%m%d"), b.strftime("%d/%m/%Y")}
        out |= {f"{scene.latitude}", f"{scene.longitude}", f"{scene.latitude:.4f}", f"{scene.longitude:.4f}"}
    return out


async def test_every_overdose_is_on_the_feed_and_nothing_identifies_anyone(migrated):
    chosen = cases()
    d = deps(migrated)
    outputs = await feed_all(d, chosen)
    expected = sorted((c.died, c.doses) for c in chosen if c.overdose)
    assert len(expected) == 24
    assert sorted((o.value.fatal, o.value.naloxone_doses) for o in outputs) == expected
    assert all(o.topic == "surveillance.overdose" and o.value.naloxone_given == (o.value.naloxone_doses > 0)
               for o in outputs)
    exported = overdoses(migrated)
    assert len(exported) == 24
    codec = Catalogue().topics["surveillance.overdose"].value
    texts = [feed.to_csv(exported), json.dumps(exported),
             *(codec.decode(codec.encode(o.value)).model_dump_json() for o in outputs)]
    found = {s for s in forbidden(chosen) for text in texts if s.lower() in text.lower()}
    assert found == set()
    for o in outputs:  # the hour, and a cell centre within half a cell of the scene
        assert o.value.occurred_at.minute == 0 and o.value.occurred_at.second == 0
        assert re.fullmatch(r"0\.01:\d+:-\d+", o.value.grid_cell)
    # each overdose's hour and cell, worked out here: the cell holds the scene, its centre within half a cell
    want = sorted((c.run.times.psap_call.replace(minute=0), math.floor(c.run.scene.latitude / 0.01),
                   math.floor(c.run.scene.longitude / 0.01)) for c in chosen if c.overdose)
    got = sorted((o.value.occurred_at, *map(int, o.value.grid_cell.split(":")[1:])) for o in outputs)
    assert got == want
    for o in outputs:
        row, col = map(int, o.value.grid_cell.split(":")[1:])
        assert abs(o.value.latitude - (row + 0.5) * 0.01) < 1e-9 and abs(o.value.longitude - (col + 0.5) * 0.01) < 1e-9


async def test_a_second_version_of_a_run_does_not_add_an_overdose(migrated):
    chosen = cases(3)
    d = deps(migrated)
    await feed_all(d, chosen)
    await feed_all(d, chosen)
    assert len(overdoses(migrated)) == sum(c.overdose for c in chosen)


@pytest.mark.parametrize("role", ["part2-programme", None])
async def test_a_source_the_policy_does_not_cover_is_left_off(migrated, role):
    case = cases(1)[0]
    envelope = case.run.envelope.model_copy(update={"source_role": role and SourceRole(role)})
    run = case.run.model_copy(update={"envelope": envelope})
    d = deps(migrated)
    episodes.save_record(d.store, "ems.run", run, run.key, START)
    result = await report_detection(d, classify_run(run, RULES), context())
    assert list(result.outputs) == [] and overdoses(migrated) == []
    assert feed.permitted(d.gate.policy, "covered-entity") == ["public-health-reporting"]


async def test_a_spike_fires_once_to_the_webhook(migrated, certs, receiver):  # noqa: F811
    chosen = [c for c in cases(60) if c.overdose]
    # 8 overdoses in area 53033 within 24 hours: over a threshold of 5
    burst = [c.run.model_copy(update={"times": c.run.times.model_copy(update={
        "psap_call": START + timedelta(hours=2 * k)})}) for k, c in enumerate(chosen[:8])]
    connector = WebhookConnector(AlertSettings(webhook_keys={"public-health": SecretStr(KEY)},
                                               ca_bundle=certs.ca.cert))
    address = receiver.address.replace("/alerts", "/spikes")
    d = deps(migrated, {"webhook": connector}, spike_thresholds={"53033": 5}, spike_webhook=address)
    try:
        await feed_all(d, [type(chosen[0])(run, True, False, 0) for run in burst], START + timedelta(hours=16))
    finally:
        await connector.aclose()
    raised = spikes(migrated, START - timedelta(days=1))
    assert [(s["area"], s["count"], s["threshold"]) for s in raised] == [("53033", 6, 5)]  # the sixth crossed it
    assert raised[0]["notified_at"] is not None
    assert len(receiver.accepted) == 1
    body = json.loads(receiver.accepted[0].body)
    assert body["kind"] == "overdose-spike" and body["area"] == "53033" and body["count"] == 6


async def test_no_threshold_no_spike(migrated):
    d = deps(migrated)
    await feed_all(d, cases(10))
    assert spikes(migrated, START - timedelta(days=1)) == []


async def test_the_spike_shows_in_the_metrics(migrated):
    from prometheus_client import CollectorRegistry, generate_latest

    from pipeline.clock import FixedClock
    from pipeline.report.metrics import SurveillanceCollector

    chosen = [c for c in cases(40) if c.overdose][:8]
    burst = [c.run.model_copy(update={"times": c.run.times.model_copy(update={
        "psap_call": START + timedelta(hours=k)})}) for k, c in enumerate(chosen)]
    d = deps(migrated, spike_threshold=5)
    await feed_all(d, [type(chosen[0])(run, True, False, 0) for run in burst])
    registry = CollectorRegistry()
    registry.register(SurveillanceCollector(migrated, FixedClock(START + timedelta(hours=12))))
    text = generate_latest(registry).decode()
    assert 'handoff_overdoses_24h{area="53033"} 8.0' in text
    assert 'handoff_overdose_spike{area="53033"} 1.0' in text
    assert "handoff_overdose_spike_unsent 1.0" in text  # no webhook configured: still to send


@pytest.mark.parametrize("pathway, agency, role, want", [
    ("first-responder", "ems-012", None, "ems-led"), ("first-responder", "ems-044", None, "fire-led"),
    ("officer-intervention", "pd-7", None, "police-led"), ("self-referral", "", None, "self"),
    ("naloxone-plus", "pd-7", "law-enforcement", "police-led"), ("active-outreach", "ems-012", None, "ems-led")])
async def test_a_request_keeps_its_pathway_and_area(migrated, pathway, agency, role, want):
    from pipeline import records as r
    from pipeline.report.stages import report_request
    from tests.support.samples import referral

    request = r.ReferralRequest.model_validate(referral().model_dump() | {
        "pathway": pathway, "referring_agency": agency, "source_role": role,
        "location": {"county_code": "17167", "street": "1 Main St"}})
    await report_request(deps(migrated, fire_agencies=["ems-044"]), request, context())
    with migrated.transaction() as tx:
        row = tx.fetchone("SELECT month, area, pathway FROM report_request WHERE request_id = 'req-1'")
    assert dict(row) == {"month": request.envelope.occurred_at.strftime("%Y-%m"), "area": "17167", "pathway": want}
