"""Episodes through the real broker: two units of two agencies, the CAD incident and an
amendment of one PCR end as one referral per service, updated, never doubled."""
from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from connectors.inbox import InboxConnector
from pipeline import records as r
from pipeline.app import Deps, runners
from pipeline.clock import FixedClock
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.metrics import Metrics
from handoff.demo import wait_quiet
from pipeline.settings import SAMPLE_AGENCIES, AgencyInfo, Settings
from pipeline.storage import open_store
from tests.support.factory import T0, envelope, ems_run
from tests.support.kafka import consume, produce

pytestmark = pytest.mark.kafka

PERSON = r.Person(family="Okafor", given="Riley", birth_date=date(1988, 2, 3), sex="F",
                  address=r.Address(county="Sangamon"))
KEY = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-2041")


def unit_run(pcr: str, agency: str, version: int = 1, minutes: int = 0, narrative: str = "") -> r.EmsRun:
    run = ems_run(pcr, key=KEY, agency_id=agency, patient=PERSON, version=version,
                  narrative=narrative or "Found unresponsive, pinpoint pupils. Narcan 4mg IN, pt improved.")
    return run.model_copy(update={"envelope": envelope(pcr, version).model_copy(
        update={"occurred_at": T0 + timedelta(minutes=minutes), "event_id": f"{pcr}:v{version}"})})


async def inbox_holds(store, messages: int, limit: float) -> None:
    """Until the inbox holds `messages` messages (a quiet spell alone is not enough on a loaded machine:
    an update waiting for its create sits in a retry tier, and every stage is idle meanwhile)."""
    deadline = asyncio.get_running_loop().time() + limit
    def held() -> int:
        with store.transaction() as tx:
            return tx.fetchone("SELECT COUNT(*) AS n FROM inbox_item")["n"]

    while asyncio.get_running_loop().time() < deadline:
        if await asyncio.to_thread(held) >= messages:  # off the loop: the stages' batches wait for the loop
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the inbox did not hold {messages} messages within {limit:.0f}s")


async def test_units_incident_and_amendment_make_one_referral_per_service(kafka, catalogue, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    # The fire district is a covered entity too; unlisted, its PCR would make the request a Part 2 record.
    agencies = {**SAMPLE_AGENCIES, "fire-3": AgencyInfo(role="covered-entity", name="Fire district 3")}
    deps = Deps.build(Settings(environment="test", agencies=agencies), catalogue, store, {"inbox": InboxConnector(store)},
                      FixedClock(T0 + timedelta(hours=1)))
    cad = r.DispatchIncident(envelope=envelope("INC-2041", system="eido:psap-north"), key=KEY, call_type="OD",
                             narrative="caller says friend not breathing after using")
    fire = unit_run("PCR-FIRE", "fire-3")
    transport = unit_run("PCR-AMB", "ems-012", minutes=8)
    amended = unit_run("PCR-AMB", "ems-012", version=2, minutes=8,
                       narrative="Found unresponsive. Narcan 4mg IN, pt improved. Pt admits heroin use today.")
    await produce(kafka.bootstrap, catalogue["dispatch.incident"], [(KEY, cad)])
    await produce(kafka.bootstrap, catalogue["ems.run"], [(KEY, fire), (KEY, transport), (KEY, amended)])

    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    metrics = Metrics()
    for runner in runners(deps, FaustSink(app), metrics):
        attach(app, runner)
    await app.start()
    try:
        requests = await consume(kafka.bootstrap, catalogue["referral.request"], 6)
        await inbox_holds(store, messages=2, limit=90)  # the create and an update (an update may wait in a retry tier)
        await wait_quiet(metrics, expected=3, quiet=2.0, limit=60)  # then anything more would have shown
    finally:
        await app.stop()

    assert {q.person.person_token for q in requests} == {requests[0].person.person_token}
    assert {q.service.value for q in requests} == {"sud-treatment", "peer-recovery"}
    with store.transaction() as tx:
        merged = tx.fetchall("SELECT request_id, service, revision FROM episode_request")
        inbox = tx.fetchall("SELECT referral_id, recipient_id, message_id FROM inbox_item")
    store.close()
    assert len(merged) == 2  # one request per service, however many records
    sud = next(m for m in merged if m["service"] == "sud-treatment")
    assert sud["revision"] >= 2  # a later unit or the amendment updated it
    by_referral: dict[str, set] = {}
    for item in inbox:
        by_referral.setdefault(item["referral_id"], set()).add(item["message_id"])
    sud_referrals = {i["referral_id"] for i in inbox if i["recipient_id"] == "org-bridge-clinic"}
    assert len(sud_referrals) == 1  # updates are new messages of the same referral, never a second referral
    messages = by_referral[sud_referrals.pop()]
    assert 2 <= len(messages) <= sud["revision"]  # one message per revision sent, the same ids on a resend
    assert all(i["recipient_id"] == "org-bridge-clinic" for i in inbox)  # peer recovery is held for consent


async def test_the_purge_of_episode_state_is_audited(kafka, catalogue, tmp_path):
    from pipeline.kafka.producer import ProducerSink
    from pipeline.app import purge_episodes
    from pipeline.stage import Writer

    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    from pipeline.episode import state as episodes
    run = unit_run("PCR-OLD", "ems-012")
    episodes.save_record(store, "ems.run", run, run.key, T0)
    deps = Deps.build(Settings(environment="test"), catalogue, store, {}, FixedClock(T0 + timedelta(days=120)))
    async with ProducerSink(kafka.bootstrap) as sink:
        await purge_episodes(deps, Writer(catalogue, sink, "episode-purge"))  # retention: 90 days
    [audit] = await consume(kafka.bootstrap, catalogue["audit"], 1)
    assert audit.kind.value == "admin" and audit.detail["episode_record"] == "1"
    assert audit.detail["delivery_message"] == "0"
    assert episodes.incident_records(store, KEY) == ([], None)
    store.close()
