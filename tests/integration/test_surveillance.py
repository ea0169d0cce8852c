"""The surveillance feed through the real broker: EMS runs of made-up people in, the classify-run and
report-detection stages running, every recognised overdose out on surveillance.overdose (and audited),
with no name, date of birth, exact address or record number on it."""
from __future__ import annotations

import pytest

from pipeline.app import Deps, runners
from pipeline.clock import FixedClock
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.storage import open_store
from tests.support.kafka import consume, produce
from tests.unit.report.overdoses import START, cases
from tests.unit.report.test_feed import forbidden

pytestmark = pytest.mark.kafka


async def test_overdoses_reach_the_feed_topic_de_identified_and_audited(kafka, catalogue, tmp_path):
    chosen = cases(10)
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    deps = Deps.build(Settings(environment="test"), catalogue, store, {}, FixedClock(START))
    await produce(kafka.bootstrap, catalogue["ems.run"], [(c.run.key, c.run) for c in chosen])
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    for runner in runners(deps, FaustSink(app), Metrics(), names=["classify-run", "report-detection"]):
        attach(app, runner)
    await app.start()
    try:
        expected = sum(c.overdose for c in chosen)
        feed = await consume(kafka.bootstrap, catalogue["surveillance.overdose"], expected, timeout=120)
        audits = await consume(kafka.bootstrap, catalogue["audit"], 2 * len(chosen) + expected, timeout=60)
    finally:
        await app.stop()
    assert expected == 8 and len(feed) == expected
    assert sorted((o.fatal, o.naloxone_doses) for o in feed) == sorted((c.died, c.doses) for c in chosen if c.overdose)
    text = "\n".join(o.model_dump_json() for o in feed).lower()
    assert {s for s in forbidden(chosen) if s.lower() in text} == set()
    outputs = [a for a in audits if a.stage == "report-detection"]
    assert len(outputs) == expected and all(a.kind.value == "decision" for a in outputs)
    with store.transaction() as tx:
        calls = tx.fetchone("SELECT COUNT(*) AS n FROM report_call")["n"]
    store.close()
    assert calls == expected  # the falls were not recognised: no call to count
