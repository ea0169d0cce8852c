"""Transient failures are retried in place, permanent ones dead-lettered at once (real broker, real SQLite)."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from pipeline import records as r
from pipeline.app import database_answers
from pipeline.clock import FixedClock
from pipeline.errors import Transient
from pipeline.kafka.faust_app import FaustSink, attach, make_app
from pipeline.metrics import Metrics
from pipeline.stage import Output, Result, RetryPolicy, Stage, StageRunner
from pipeline.storage import open_store
from pipeline.vocab import AuditKind, Category
from tests.support.factory import T0, ems_run
from tests.support.kafka import consume, produce, settle

pytestmark = pytest.mark.kafka

QUICK = RetryPolicy(attempts=3, backoff=(0.1, 0.2, 0.5))


def detection_of(run: r.EmsRun, ctx) -> Result:
    return Result(outputs=[Output("detection", run.key, r.Detection(
        envelope=run.envelope, key=run.key, subject=ctx.source, categories=[Category.OVERDOSE], rules_version="t"))])


async def run_stage(kafka, catalogue, fn, until, probes=None):
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    metrics = Metrics()
    runner = StageRunner(Stage("classify-run", "ems.run", fn, AuditKind.DETECTION, outputs=("detection",)), catalogue, FaustSink(app),
                         FixedClock(T0), metrics, QUICK, probes)
    attach(app, runner)
    await app.start()
    try:
        return await until(), metrics
    finally:
        await app.stop()


async def test_a_database_locked_for_two_seconds_is_waited_for_and_the_record_goes_through(kafka, catalogue,
                                                                                            tmp_path):
    db = tmp_path / "stage.db"
    store = open_store(f"sqlite:///{db}", timeout=0.1)  # a short busy timeout, so the lock surfaces as an error
    with store.transaction() as tx:
        tx.execute("CREATE TABLE seen (pcr TEXT PRIMARY KEY)")

    met_the_lock = threading.Event()

    def remember(run: r.EmsRun, ctx) -> Result:
        met_the_lock.set()
        with store.transaction(immediate=True) as tx:
            tx.execute("INSERT OR IGNORE INTO seen (pcr) VALUES (:pcr)", {"pcr": run.pcr_number})
        return detection_of(run, ctx)

    locker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock ...
    times = {}

    def release():  # ... for 2 s from the moment the stage first meets it
        met_the_lock.wait(120)
        times["met"] = time.monotonic()
        time.sleep(2.0)
        locker.execute("COMMIT")

    released = threading.Thread(target=release)
    run = ems_run("PCR-LOCK")
    await produce(kafka.bootstrap, catalogue["ems.run"], [(run.key, run)])
    released.start()

    async def until():
        return await consume(kafka.bootstrap, catalogue["detection"], 1)

    try:
        outputs, metrics = await run_stage(kafka, catalogue, remember, until,
                                           probes={"database": lambda: database_answers(store)})
    finally:
        released.join()
        locker.close()
    took = time.monotonic() - times["met"]
    print(f"\nlocked database: the record went through {took:.1f}s after the stage first met the lock "
          f"(lock held 2.0s), {metrics.value(metrics.retries, 'classify-run'):.0f} retries")
    assert [d.subject.record_id for d in outputs] == ["PCR-LOCK"]
    assert metrics.value(metrics.retries, "classify-run") >= 2
    assert metrics.value(metrics.dead_lettered, "classify-run") == 0
    # the outage was reported (the probe could not get the write lock either) and cleared
    assert metrics.ready.labels("database")._value.get() == 1
    assert metrics.waiting.labels("classify-run")._value.get() == 0
    with store.transaction() as tx:
        assert tx.fetchone("SELECT COUNT(*) AS n FROM seen")["n"] == 1
    store.close()


async def test_a_schema_error_is_dead_lettered_at_once_and_a_record_failing_alone_after_n_tries(kafka, catalogue):
    calls: dict[str, int] = {}

    def picky(run: r.EmsRun, ctx) -> Result:
        calls[run.pcr_number] = calls.get(run.pcr_number, 0) + 1
        if run.pcr_number == "PCR-SCHEMA":  # an output that does not fit its schema
            r.Detection(envelope=run.envelope, key=run.key, subject=ctx.source, categories=["not-a-category"],
                        rules_version="t")
        if run.pcr_number == "PCR-PEER":
            raise Transient("the recipient timed out", dependency="peer")
        return detection_of(run, ctx)

    runs = [ems_run("PCR-SCHEMA"), ems_run("PCR-PEER"), ems_run("PCR-OK")]
    await produce(kafka.bootstrap, catalogue["ems.run"], [(x.key, x) for x in runs])

    async def until():
        letters = await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 2)
        outputs = await consume(kafka.bootstrap, catalogue["detection"], 1)
        await settle(0.5)
        return letters, outputs

    (letters, outputs), metrics = await run_stage(kafka, catalogue, picky, until)
    by_pcr = {catalogue["ems.run"].value.decode(d.value).pcr_number: d for d in letters}
    schema, peer = by_pcr["PCR-SCHEMA"], by_pcr["PCR-PEER"]
    assert calls["PCR-SCHEMA"] == 1 and schema.retryable is False and schema.error_type == "ValidationError"
    assert "not-a-category" not in schema.reason  # the reason names where, not the value
    assert calls["PCR-PEER"] == QUICK.attempts and peer.retryable is True and "timed out" in peer.reason
    assert [d.subject.record_id for d in outputs] == ["PCR-OK"]
    assert metrics.value(metrics.retries, "classify-run") == QUICK.attempts - 1


async def test_an_output_to_an_undeclared_topic_is_refused_and_dead_lettered(kafka, catalogue):
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    metrics = Metrics()
    stage = Stage("classify-run", "ems.run", detection_of, AuditKind.DETECTION, outputs=("referral.request",))
    attach(app, StageRunner(stage, catalogue, FaustSink(app), FixedClock(T0), metrics, QUICK))
    run = ems_run("PCR-STRAY")
    await produce(kafka.bootstrap, catalogue["ems.run"], [(run.key, run)])
    await app.start()
    try:
        [letter] = await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 1)
        await settle(0.5)
    finally:
        await app.stop()
    assert letter.error_type == "UndeclaredOutput" and letter.retryable is False
    assert "may not produce to detection" in letter.reason
    assert await consume(kafka.bootstrap, catalogue["detection"], 1, timeout=1.0) == []  # nothing got out
    audits = await consume(kafka.bootstrap, catalogue["audit"], 5, timeout=2.0)
    assert [a.kind for a in audits] == [AuditKind.DEAD_LETTER]  # and no audit of an output that never was
