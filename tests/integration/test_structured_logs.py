"""Structured logs from the stage wrapper on the real broker: JSON lines with stage, topic, partition,
offset and trace id, and no name or date of birth from the test set (even when an error quotes them)."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from typing import Iterator

import pytest

from pipeline import records as r
from pipeline.logs import JsonFormatter
from tests.integration.test_stage_wrapper import run_stage
from tests.support.factory import ems_run
from tests.support.kafka import consume, produce

pytestmark = pytest.mark.kafka
TRACE = "0af7651916cd43dd8448eb211c80319c"


def quoting_stage(run: r.EmsRun, ctx):
    """A careless stage: its error quotes the patient."""
    raise ValueError(f"cannot place {run.patient.family} {run.patient.given} ({run.patient.birth_date})")


@contextmanager
def json_lines(logger_name: str = "") -> Iterator[list[str]]:
    """Every line `logger_name` (default the root) logs at INFO or above in the block, as JSON."""
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))
    handler = Capture(level=logging.INFO)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name or None)
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


async def test_stage_log_lines_are_json_with_their_place_and_no_person_data(kafka, catalogue):
    ems = catalogue["ems.run"]
    key = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-1")
    with json_lines("pipeline.stage") as lines:
        await produce(kafka.bootstrap, ems, [(key, ems_run("PCR-T")), (key, ems_run("PCR-P"))],
                      headers=[("traceparent", f"00-{TRACE}-b7ad6b7169203331-01".encode())])

        async def until():
            return await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 2, timeout=60)
        await run_stage(kafka, catalogue, quoting_stage, until)
    parsed = [json.loads(x) for x in lines]
    assert parsed, "the stage wrapper logged nothing"
    letters = [p for p in parsed if "dead letter" in p["message"]]
    assert len(letters) == 2
    for p in letters:
        assert p["stage"] == "detect" and p["topic"] == ems.full_name and p["partition"] in (0, 1)
        assert isinstance(p["offset"], int) and p["trace_id"] == TRACE and p["level"] == "INFO"
    assert {p["event_id"] for p in letters} == {ems_run("PCR-T").envelope.event_id, ems_run("PCR-P").envelope.event_id}
    patient = ems_run().patient
    for text in lines:
        for secret in (patient.family, patient.given, str(patient.birth_date), patient.birth_date.strftime("%Y%m%d")):
            assert secret not in text, (secret, text)


async def test_a_worker_over_the_sample_logs_no_name_or_birth_date_from_it(kafka, catalogue, tmp_path, monkeypatch,
                                                                           capsys):
    """Every stage of the worker over the demo's fixed-seed sample (the pipeline tests' set) plus a
    poison message that quotes one of its patients, logging JSON at INFO: no log line holds a name or
    a date of birth (ISO, compact or US) of any person in it; the deliveries' latency is measured."""
    import handoff.demo as demo
    from handoff.demo import sample_runs
    from pipeline.metrics import Metrics
    from pipeline.settings import Settings

    made: list[Metrics] = []

    class Kept(Metrics):  # the worker's own registry, kept to read the delivery metrics after
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)
    monkeypatch.setattr(demo, "Metrics", Kept)
    runs = sample_runs(20)
    people = [run.patient for run in runs]
    quoted = people[0]
    ems = catalogue["ems.run"]
    await produce(kafka.bootstrap, ems, [(ems.key.encode(runs[0].key),
                                          f"{quoted.family}, {quoted.given} {quoted.birth_date}".encode())])
    settings = Settings(environment="test", kafka={"topic_prefix": catalogue.prefix,
                                                   "consumer_group": f"g-{catalogue.prefix}"},
                        storage={"url": f"sqlite:///{tmp_path / 'handoff.db'}"}, metrics={"port": 0})
    with json_lines() as lines:
        await demo.main(settings, once=True, sample=len(runs), bootstrap=kafka.bootstrap, fhir_server=False)
    parsed = [json.loads(x) for x in lines]
    staged = [p for p in parsed if p.get("stage")]
    assert any("dead letter" in p["message"] and p["topic"] == ems.full_name for p in staged), lines
    placeless = [p for p in staged if not {"topic", "partition", "offset"} <= set(p)
                 or ("event_id" in p and "trace_id" not in p)]  # the poison has no event id: it never decoded
    assert not placeless, placeless[:3]
    secrets = {s for p in people for s in (p.family, p.given, p.birth_date.isoformat(), p.birth_date.strftime("%Y%m%d"),
                                           p.birth_date.strftime("%m/%d/%Y"))}
    leaks = [(s, x) for x in lines for s in secrets if s in x]
    assert not leaks, leaks[:3]
    assert len(lines) > 20, f"too few log lines to mean anything: {len(lines)}"
    metrics = made[0]
    sent = sum(s.value for s in metrics.delivery_latency.collect()[0].samples if s.name.endswith("_count"))
    assert sent > 0, "no delivery was acknowledged"
