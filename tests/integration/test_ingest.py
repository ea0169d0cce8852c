"""Files into Kafka through the real broker: records with their audit, refusals as dead letters, resume."""
from __future__ import annotations

import pytest

from connectors.common import ParseContext
from connectors.ingest import Journal, ingest_files
from pipeline.kafka.producer import ProducerSink
from pipeline.stage import Writer
from tests.support.factory import T0
from tests.support.kafka import consume, consume_raw, settle

pytestmark = pytest.mark.kafka


def ctx() -> ParseContext:
    return ParseContext(received_at=T0, sender="ems-test", programme_id="demo",
                        dispatch_centre_for=lambda agency: "psap-north")


async def test_nemsis_files_go_onto_ems_run_and_a_bad_file_into_the_dead_letters(kafka, catalogue, shared, tmp_path):
    full = shared / "nemsis" / "v3.5.1" / "compliance" / "full"
    files = [full / "2025-EMS-1-Overdose_v351.xml", full / "2025-EMS-2-Suicide_v351.xml"]
    bad = tmp_path / "broken.xml"
    bad.write_bytes(b"<EMSDataSet xmlns='http://www.nemsis.org'><Header>")
    journal = Journal(tmp_path / "journal")
    async with ProducerSink(kafka.bootstrap) as sink:
        writer = Writer(catalogue, sink, "ingest")
        summary = await ingest_files(writer, "nemsis", files + [bad], ctx(), journal)
        again = await ingest_files(writer, "nemsis", files + [bad], ctx(), Journal(tmp_path / "journal"))
    assert summary.files == 3 and summary.records == 2 and summary.refused == 1
    assert again.skipped_files == 3 and again.records == 0  # the journal resumes a batch without resending

    runs = await consume(kafka.bootstrap, catalogue["ems.run"], 2)
    assert {run.pcr_number for run in runs} == {"2025-EMS-1-Overdose_v351", "2025-EMS-2-Suicide_v351"}
    assert all(run.envelope.sender == "ems-test" for run in runs)
    [letter] = await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 1)
    assert letter.value == bad.read_bytes() and letter.stage == "ingest" and letter.reason
    audits = await consume(kafka.bootstrap, catalogue["audit"], 3)
    assert sorted(a.kind.value for a in audits) == ["dead-letter", "ingest", "ingest"]
    await settle(0.5)
    assert len(await consume_raw(kafka.bootstrap, catalogue["ems.run"], 3, timeout=2)) == 2


async def test_a_file_sent_twice_repeats_its_event_ids(kafka, catalogue, shared, tmp_path):
    path = shared / "nemsis" / "v3.5.1" / "compliance" / "full" / "2025-EMS-1-Overdose_v351.xml"
    async with ProducerSink(kafka.bootstrap) as sink:
        writer = Writer(catalogue, sink, "ingest")
        await ingest_files(writer, "nemsis", [path], ctx(), Journal(tmp_path / "a"))
        await ingest_files(writer, "nemsis", [path], ctx(), Journal(tmp_path / "b"))  # a crash lost the journal
    first, second = await consume(kafka.bootstrap, catalogue["ems.run"], 2)
    assert first.envelope.event_id == second.envelope.event_id  # downstream drops the repeat
