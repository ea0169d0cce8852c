"""The MLLP listener through a real TLS client socket on 127.0.0.1 and the real broker."""
from __future__ import annotations

import asyncio

import pytest

from connectors.edge.framing import START, wrap
from pipeline.kafka.producer import ProducerSink
from tests.support.edges import MllpClient, edge_settings, frozen, make_certs, msa, running_mllp
from tests.support.kafka import consume, consume_raw, settle
from tests.unit.connectors import hl7_gen

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_aa_after_commit_ae_and_ar_with_reasons_and_dead_letters(kafka, catalogue, certs):
    settings = edge_settings(certs, catalogue.prefix)
    good = hl7_gen.oru(1, control_id="MSG1")
    bad = b"\r".join(s for s in good.split(b"\r") if not s.startswith(b"PID"))  # readable, but no PID
    unsupported = hl7_gen.adt(2).replace(b"ADT^A04", b"ADT^A01")
    async with ProducerSink(kafka.bootstrap) as sink, running_mllp(settings, sink, catalogue) as (address, edge):
        mllp = await MllpClient.connect(address, certs, "ems-012")
        try:
            accepted = msa(await mllp.call(good))
            errored = msa(await mllp.call(bad))
            rejected = msa(await mllp.call(unsupported))
            garbage = msa(await mllp.call(b"this is not HL7"))
            again = msa(await mllp.call(good))  # the connection survives bad input
        finally:
            await mllp.close()
    assert accepted[:3] == ["MSA", "AA", "MSG1"] and again[1] == "AA"
    assert errored[1] == "AE" and errored[-1] == "ERR:207^Application internal error^HL70357:message has no PID segment"
    assert rejected[1] == "AR" and rejected[-1].startswith("ERR:200") and "ADT A01 is not accepted" in rejected[-1]
    assert garbage[1] == "AR"
    runs = await consume(kafka.bootstrap, catalogue["ems.run"], 2)
    assert {r.envelope.sender for r in runs} == {"ems-012"} and runs[0].envelope.event_id == runs[1].envelope.event_id
    letters = await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 3)
    assert sorted(x.value for x in letters) == sorted([bad, unsupported, b"this is not HL7"])
    assert edge.metrics.value(edge.metrics.requests, "mllp", "AA") == 2


async def test_unauthenticated_senders_get_ar_and_are_closed(kafka, catalogue, certs):
    settings = edge_settings(certs, catalogue.prefix)
    async with ProducerSink(kafka.bootstrap) as sink, running_mllp(settings, sink, catalogue) as (address, edge):
        for who in (None, "stranger"):  # no certificate; a certificate of the CA that names no agency
            mllp = await MllpClient.connect(address, certs, who)
            ack = await mllp.call(hl7_gen.oru(3))
            assert msa(ack)[1] == "AR" and "not authenticated" in msa(ack)[-1]
            assert await mllp.read_ack(timeout=2) is None  # closed
            await mllp.close()
        try:  # a certificate from another CA: the server ends the handshake (TLS 1.3 tells the client late)
            foreign = await MllpClient.connect(address, certs, "foreign")
            ack = await foreign.call(hl7_gen.oru(3))
            await foreign.close()
        except OSError:
            ack = None
        assert ack is None
        await asyncio.sleep(0.2)
        m = edge.metrics
        assert m.value(m.unauthenticated, "mllp", "no-certificate") == 2
        assert m.value(m.unauthenticated, "mllp", "tls") == 1
        ok = await MllpClient.connect(address, certs, "ems-012")  # the listener is still there
        assert msa(await ok.call(hl7_gen.oru(4)))[1] == "AA"
        await ok.close()
    await settle(0.5)
    assert len(await consume_raw(kafka.bootstrap, catalogue["ems.run"], 2, timeout=1)) == 1
    assert await consume_raw(kafka.bootstrap, catalogue["ems.run.dlq"], 1, timeout=1) == []


async def test_truncated_oversized_and_slow_frames_are_dead_letters_and_the_listener_lives(kafka, catalogue, certs):
    settings = edge_settings(certs, catalogue.prefix)  # 64 KiB messages, 1 s to finish a frame
    message = hl7_gen.oru(5)
    async with ProducerSink(kafka.bootstrap) as sink, running_mllp(settings, sink, catalogue) as (address, edge):
        truncated = await MllpClient.connect(address, certs, "ems-012")
        await truncated.send_raw(START + message[:200])
        truncated.writer.write_eof() if truncated.writer.can_write_eof() else None
        await truncated.close()

        oversized = await MllpClient.connect(address, certs, "ems-012")
        await oversized.send_raw(START + b"MSH|" + b"x" * 70_000)
        ack = await oversized.read_ack()
        assert msa(ack)[1] == "AR" and "exceeds" in msa(ack)[-1]
        assert await oversized.read_ack(timeout=2) is None
        await oversized.close()

        slow = await MllpClient.connect(address, certs, "ems-012")
        await slow.send_raw(START + message[:100])  # and then nothing
        ack = await slow.read_ack(timeout=5)
        assert msa(ack)[1] == "AR" and "not completed" in msa(ack)[-1]
        await slow.close()

        fine = await MllpClient.connect(address, certs, "ems-012")
        assert msa(await fine.call(message))[1] == "AA"
        await fine.close()
        m = edge.metrics
        assert [m.value(m.requests, "mllp", k) for k in ("truncated", "oversized", "slow")] == [1, 1, 1]
    letters = await consume(kafka.bootstrap, catalogue["ems.run.dlq"], 3)
    by_reason = {x.reason.split(" ")[0]: x.value for x in letters}
    assert by_reason["connection"] == message[:200]
    assert by_reason["message"] == (b"MSH|" + b"x" * 70_000)[:64 * 1024]
    assert by_reason["frame"] == message[:100]


async def test_broker_not_committing_gives_ar_and_no_aa(kafka, catalogue, certs):
    settings = edge_settings(certs, catalogue.prefix, commit_timeout=1.0)
    message = hl7_gen.oru(6, control_id="MSG6")
    async with ProducerSink(kafka.bootstrap) as sink, running_mllp(settings, sink, catalogue) as (address, edge):
        mllp = await MllpClient.connect(address, certs, "ems-012")
        with frozen(kafka.pid):
            during = msa(await mllp.call(message))
        after = msa(await mllp.call(message))
        await mllp.close()
    assert during[:3] == ["MSA", "AR", "MSG6"] and "not stored" in during[-1]
    assert after[1] == "AA"
    assert edge.metrics.value(edge.metrics.unavailable, "mllp") == 1
    await settle(0.5)
    runs = await consume(kafka.bootstrap, catalogue["ems.run"], 2, timeout=3)
    assert 1 <= len(runs) <= 2 and len({r.envelope.event_id for r in runs}) == 1


def test_frames_are_wrapped_as_mllp():
    assert wrap(b"MSH|x") == b"\x0bMSH|x\x1c\x0d"
