"""The stage wrapper on the real broker: outputs, audit first, dead letters, trace context."""
from __future__ import annotations

import pytest

from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.kafka.faust_app import FaustSink, SafeProducer, attach, make_app
from pipeline.metrics import Metrics
from pipeline.stage import Output, Result, Stage, StageRunner
from pipeline.vocab import AuditKind, Category
from tests.support.factory import T0, ems_run
from tests.support.kafka import consume, consume_raw, produce

pytestmark = pytest.mark.kafka


def detect_stub(run: r.EmsRun, ctx) -> Result:
    """A stage function for the wrapper's sake: fails on a marker, else one Detection."""
    if run.narrative == "boom":
        raise RuntimeError("stage bug on purpose")
    detection = r.Detection(envelope=run.envelope, key=run.key, subject=ctx.source,
                            categories=[Category.OVERDOSE], rules_version="test")
    return Result(outputs=[Output("detection", run.key, detection)])


async def run_stage(kafka, catalogue, fn, until):
    app = make_app(kafka.bootstrap, f"g-{catalogue.prefix}")
    metrics = Metrics()
    runner = StageRunner(Stage("detect", "ems.run", fn, AuditKind.DETECTION, outputs=("detection",)), catalogue, FaustSink(app),
                         FixedClock(T0), metrics)
    attach(app, runner)
    await app.start()
    try:
        return await until(), app, metrics
    finally:
        await app.stop()


async def test_poison_message_becomes_a_dead_letter_and_the_stream_goes_on(kafka, catalogue):
    ems = catalogue["ems.run"]
    key = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-1")
    await produce(kafka.bootstrap, ems, [
        (ems.key.encode(key), b"\x00not avro at all"),
        (key, ems_run("PCR-2", narrative="boom")),
        (key, ems_run("PCR-3")),
    ], headers=[("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])

    async def until():
        letters = await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 2)
        outputs = await consume_raw(kafka.bootstrap, catalogue["detection"], 1)
        return letters, outputs

    (letters, outputs), app, metrics = await run_stage(kafka, catalogue, detect_stub, until)
    assert [d.error_type for d in letters] == ["CodecError", "RuntimeError"]
    assert "not an Avro single-object message" in letters[0].reason
    assert letters[0].value == b"\x00not avro at all" and letters[0].offset == 0
    assert letters[1].reason == "RuntimeError: stage bug on purpose" and letters[1].stage == "detect"
    assert letters[1].headers["traceparent"].startswith(b"00-0af7651916cd43dd8448eb211c80319c-")
    detection = catalogue["detection"].value.decode(outputs[0].value)
    assert detection.subject.record_id == "PCR-3"
    # the trace id rides on from the input to the output
    assert dict(outputs[0].headers)["traceparent"].decode().split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert metrics.value(metrics.dead_lettered, "detect") == 2
    assert metrics.value(metrics.produced, "detect") == 1


async def test_every_output_has_an_audit_record_written_before_it(kafka, catalogue):
    ems = catalogue["ems.run"]
    runs = [ems_run(f"PCR-{i}") for i in range(5)]
    await produce(kafka.bootstrap, ems, [(run.key, run) for run in runs])

    async def until():
        await consume_raw(kafka.bootstrap, catalogue["detection"], 5)
        return await consume_raw(kafka.bootstrap, catalogue["audit"], 5)

    audits_raw, _, _ = await run_stage(kafka, catalogue, detect_stub, until)
    audits = [catalogue["audit"].value.decode(m.value) for m in audits_raw]
    outputs = await consume_raw(kafka.bootstrap, catalogue["detection"], 5)
    assert sorted(a.entities[0].record_id for a in audits) == [f"PCR-{i}" for i in range(5)]
    assert {a.kind for a in audits} == {AuditKind.DETECTION}
    # audit first: each audit record was appended (broker time) no later than its output
    audit_time = {a.entities[0].record_id: m.timestamp for a, m in zip(audits, audits_raw)}
    for m in outputs:
        record_id = catalogue["detection"].value.decode(m.value).subject.record_id
        assert audit_time[record_id] <= m.timestamp
    assert len({a.audit_id for a in audits}) == 5


async def test_the_app_producer_is_idempotent_with_acks_all(kafka):
    app = make_app(kafka.bootstrap, "g-idempotence")
    producer = app.producer
    assert isinstance(producer, SafeProducer)
    await producer.start()
    try:
        client = producer._ensure_producer()
        assert client._txn_manager is not None  # aiokafka creates it only with enable_idempotence
        assert client._sender._acks == -1  # acks=all
        await client.client.bootstrap()
        await client._sender._maybe_wait_for_pid()
        assert client._txn_manager.producer_id >= 0  # the broker handed out a producer id
    finally:
        await producer.stop()
