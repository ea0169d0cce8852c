"""Payload encryption through the real broker: the ingest path seals what it writes on the
person-data topics (records and dead letters), the bytes on the broker carry no plaintext,
the same catalogue reads them back, and the audit topic stays plain Avro."""
from __future__ import annotations

import os

import pytest

from connectors.ingest import Journal, ingest_files
from pipeline.kafka.producer import ProducerSink
from pipeline.payload import PayloadCipher
from pipeline.stage import Writer
from pipeline.topics import Catalogue
from tests.integration.test_ingest import ctx
from tests.support.kafka import consume, consume_raw

pytestmark = pytest.mark.kafka


async def test_ingest_seals_person_data_topics_on_the_broker(kafka, catalogue, shared, tmp_path):
    sealed = Catalogue(prefix=catalogue.prefix, partitions=2, cipher=PayloadCipher({1: os.urandom(32)}))
    path = shared / "nemsis" / "v3.5.1" / "compliance" / "full" / "2025-EMS-1-Overdose_v351.xml"
    bad = tmp_path / "broken.xml"
    bad.write_bytes(b"<EMSDataSet xmlns='http://www.nemsis.org'><Header>")
    async with ProducerSink(kafka.bootstrap) as sink:
        summary = await ingest_files(Writer(sealed, sink, "ingest"), "nemsis", [path, bad], ctx(),
                                     Journal(tmp_path / "journal"))
    assert summary.records == 1 and summary.refused == 1
    [raw] = await consume_raw(kafka.bootstrap, sealed["ems.run"], 1)
    assert raw.value[:4] == b"\xe5\x01\x00\x01" and b"2025-EMS-1-Overdose" not in raw.value
    [run] = await consume(kafka.bootstrap, sealed["ems.run"], 1)
    assert run.pcr_number == "2025-EMS-1-Overdose_v351"
    [letter_raw] = await consume_raw(kafka.bootstrap, sealed["ems.run.dlq"], 1)
    assert letter_raw.value[:2] == b"\xe5\x01" and b"EMSDataSet" not in letter_raw.value
    [letter] = await consume(kafka.bootstrap, sealed["ems.run.dlq"], 1)
    assert letter.value == bad.read_bytes()
    audits = await consume_raw(kafka.bootstrap, sealed["audit"], 2)
    assert all(a.value[:2] == b"\xc3\x01" for a in audits)  # not a person-data topic: plain Avro
