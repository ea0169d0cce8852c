"""Structured logs from the stage wrapper on the real broker: JSON lines with stage, topic, partition,
offset and trace id, and no name or date of birth from the test set (even when an error quotes them)."""
from __future__ import annotations

import json
import logging

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


async def test_stage_log_lines_are_json_with_their_place_and_no_person_data(kafka, catalogue):
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))
    handler = Capture(level=logging.INFO)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pipeline.stage")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    ems = catalogue["ems.run"]
    key = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-1")
    try:
        await produce(kafka.bootstrap, ems, [(key, ems_run("PCR-T")), (key, ems_run("PCR-P"))],
                      headers=[("traceparent", f"00-{TRACE}-b7ad6b7169203331-01".encode())])

        async def until():
            return await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 2, timeout=60)
        await run_stage(kafka, catalogue, quoting_stage, until)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    parsed = [json.loads(x) for x in lines]
    assert parsed, "the stage wrapper logged nothing"
    letters = [p for p in parsed if "dead letter" in p["message"]]
    assert len(letters) == 2
    for p in letters:
        assert p["stage"] == "detect" and p["topic"] == ems.full_name and p["partition"] in (0, 1)
        assert isinstance(p["offset"], int) and p["trace_id"] == TRACE and p["level"] == "INFO"
    patient = ems_run().patient
    for text in lines:
        for secret in (patient.family, patient.given, str(patient.birth_date), patient.birth_date.strftime("%Y%m%d")):
            assert secret not in text, (secret, text)
