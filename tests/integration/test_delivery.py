"""Delivery through the real broker to real recipients on loopback (the session's HAPI FHIR
server, an MLLP receiver, a Direct HISP, the inbox): the same input fed again, with and without
a worker restart, leaves every recipient exactly as after the first; an amended PCR that changes
what a recipient may see sends it one update, once."""
from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from connectors import delivery as connectors
from connectors.peers import demo
from pipeline import records as r
from pipeline.app import Deps, runners
from pipeline.clock import SystemClock
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.metrics import Metrics
from handoff.demo import feed, sample_runs, wait_quiet
from pipeline.settings import Settings
from pipeline.storage import open_store
from tests.support.delivery import tasks

pytestmark = pytest.mark.kafka
SAMPLE = 80


async def start(deps: Deps, kafka, catalogue):
    app, metrics = make_app(kafka.bootstrap, f"g-{catalogue.prefix}"), Metrics()
    for runner in runners(deps, FaustSink(app), metrics):
        attach(app, runner)
    await app.start()
    return app, metrics


async def snapshot(store, peers, fhir_server) -> dict:
    """What every recipient holds: message ids at the MLLP receiver and the HISP, Task versions at
    the FHIR server, delivery ids in the inbox."""
    with store.transaction() as tx:
        sent = tx.fetchall("SELECT referral_id, endpoint_kind FROM delivery_ledger WHERE sent_message_id IS NOT NULL")
        inbox = sorted(row["delivery_id"] for row in tx.fetchall("SELECT delivery_id FROM inbox_item"))
    fhir = []
    for x in sent:
        if x["endpoint_kind"] == "fhir-rest":
            fhir += [(t["id"], t["meta"]["versionId"]) for t in await tasks(fhir_server, x["referral_id"])]
    fhir.sort()
    return {"hl7v2-mllp": sorted(peers.mllp.held), "direct": sorted(peers.smtp.held), "fhir-rest": fhir,
            "inbox": inbox}


def amended(run: r.EmsRun) -> r.EmsRun:
    """The PCR amended: a further impression (a mental-health code, which a crisis service may see)."""
    envelope = run.envelope.model_copy(update={"source_record_version": 2,
                                               "event_id": run.envelope.event_id + ":amended"})
    impression = r.Coded(code="F41.1", system="http://hl7.org/fhir/sid/icd-10-cm")
    return run.model_copy(update={"envelope": envelope,
                                  "secondary_impressions": [*run.secondary_impressions, impression]})


async def test_same_input_twice_and_an_amendment(kafka, catalogue, tmp_path, fhir_server):
    settings = Settings(environment="test", storage={"url": f"sqlite:///{tmp_path / 'h.db'}"})
    given = (fhir_server.server.base, fhir_server.server.token_url, fhir_server.client_id, fhir_server.rsa_key)
    runs = sample_runs(SAMPLE)
    async with AsyncExitStack() as stack:
        peers = await demo.start(settings, tmp_path / "peers", stack, fhir_given=given)
        store = open_store(peers.settings.storage.url)
        stack.callback(store.close)
        store.migrate()
        deps = Deps.build(peers.settings, catalogue, store, connectors.registry().build(peers.settings, store),
                          SystemClock())
        app, metrics = await start(deps, kafka, catalogue)
        stack.push_async_callback(lambda: app.stop())  # the app running at the end, whichever
        await feed(kafka.bootstrap, catalogue, runs)
        await wait_quiet(metrics, expected=SAMPLE, quiet=3.0, limit=240)
        first = await snapshot(store, peers, fhir_server)
        assert all(first.values()), first  # every kind of recipient got referrals

        await feed(kafka.bootstrap, catalogue, runs)  # the same input again, the same workers
        await wait_quiet(metrics, expected=2 * SAMPLE, quiet=3.0, limit=240)
        assert await snapshot(store, peers, fhir_server) == first
        await app.stop()

        app, metrics = await start(deps, kafka, catalogue)  # a restart, then the same input again
        await feed(kafka.bootstrap, catalogue, runs)
        await wait_quiet(metrics, expected=SAMPLE, quiet=3.0, limit=240)
        assert await snapshot(store, peers, fhir_server) == first

        # the PCR behind one MLLP referral is amended: that recipient gets one I13, nobody else anything
        message = next(iter(peers.mllp.held.values())).decode()
        incident = next(line.split("|")[19].split("^")[0] for line in message.split("\r") if line.startswith("PV1"))
        target = next(run for run in runs if run.key.incident_number == incident)
        for _ in range(2):  # the amendment arrives twice: still one update
            await feed(kafka.bootstrap, catalogue, [amended(target)])
        await wait_quiet(metrics, expected=SAMPLE + 2, quiet=3.0, limit=240)
        after = await snapshot(store, peers, fhir_server)
        assert {k: v for k, v in after.items() if k != "hl7v2-mllp"} == \
               {k: v for k, v in first.items() if k != "hl7v2-mllp"}
        new = [peers.mllp.held[m] for m in set(after["hl7v2-mllp"]) - set(first["hl7v2-mllp"])]
        assert len(new) == 1 and b"REF^I13" in new[0] and b"DG1|" in new[0] and b"F41.1" in new[0]
