"""Providers' answers over MLLP (handoff serve replies): an RRI^I12 through a real TLS client on
127.0.0.1 becomes a `referral.status` from the provider, ACK AA after the commit; an agency
that may not report status gets AR; an RRI without RF1 gets AE and is dead-lettered."""
from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from connectors.edge.replies import ReplyListener
from connectors.edge.service import build_edge, tls_context
from pipeline.kafka.producer import ProducerSink
from pipeline.settings import AgencyCredential
from pipeline.vocab import ReferralState, StatusSource
from tests.support.edges import MllpClient, edge_settings, make_certs, msa
from tests.support.kafka import consume

pytestmark = pytest.mark.kafka


def rri(control: str, status: str, referral: str) -> bytes:
    rf1 = f"RF1|{status}|||||{referral}" if status else ""
    segments = [f"MSH|^~\\&|CLINIC|CLINIC-A|HANDOFF|HANDOFF|20261201120000||RRI^I12^RRI_I12|{control}|P|2.5.1",
                "MSA|AA|HANDOFF0001", rf1]
    return "\r".join(s for s in segments if s).encode() + b"\r"


@asynccontextmanager
async def running_replies(settings, sink, catalogue):
    edge = build_edge(settings, sink, catalogue, name="edge replies")
    e = settings.edges
    listener = ReplyListener(edge, tls_context(settings), max_bytes=e.mllp_max_message_bytes,
                             frame_timeout=e.mllp_frame_timeout, idle_timeout=e.mllp_idle_timeout)
    host, port = await listener.start("127.0.0.1", 0)
    try:
        yield (host, port), edge
    finally:
        await listener.close()


async def test_an_rri_becomes_the_providers_status(kafka, catalogue, tmp_path):
    certs = make_certs(tmp_path / "certs")
    settings = edge_settings(certs, catalogue.prefix)
    agencies = dict(settings.edges.agencies)
    agencies["clinic-a"] = AgencyCredential(kind="provider", may_send=["status"], cert_subjects=["stranger"])
    settings = edge_settings(certs, catalogue.prefix, agencies=agencies)
    async with ProducerSink(kafka.bootstrap) as sink, running_replies(settings, sink, catalogue) as (address, _):
        provider = await MllpClient.connect(address, certs, "stranger")
        try:
            accepted = msa(await provider.call(rri("RRI1", "A", "ref-1")))
            broken = msa(await provider.call(rri("RRI2", "", "ref-1")))
        finally:
            await provider.close()
        agency = await MllpClient.connect(address, certs, "ems-012")  # an EMS agency may not report status
        try:
            refused = msa(await agency.call(rri("RRI3", "A", "ref-1")))
        finally:
            await agency.close()
    assert accepted[:3] == ["MSA", "AA", "RRI1"]
    assert broken[1] == "AE" and "RF1" in broken[-1]
    assert refused[1] == "AR" and "may not send referral status" in refused[-1]
    [status] = await consume(kafka.bootstrap, catalogue["referral.status"], 1)
    assert (status.referral_id, status.state, status.source) == ("ref-1", ReferralState.ACCEPTED, StatusSource.PROVIDER)
    assert status.recipient_id == "clinic-a" and status.envelope.event_id == "rri:clinic-a:RRI1"
    letters = await consume(kafka.bootstrap, catalogue["referral.status.dlq"], 2)
    assert len(letters) == 2
