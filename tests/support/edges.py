"""Helpers for the edge tests and the MLLP benchmark: certificates made at run time, settings,
a real uvicorn intake and a real MLLP listener on 127.0.0.1, an MLLP client, sample documents."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from connectors.edge.certs import Pair, issue, make_ca
from connectors.edge.framing import END, START, wrap
from connectors.edge.service import build_edge, http_server, mllp_listener
from connectors.edge.tls import client_context
from pydantic import SecretStr

from pipeline.settings import AgencyCredential, EdgeSettings, Settings

KEYS = {"ems-012": "ems-012-key-0123456789abcdef", "pd-7": "pd-7-key-0123456789abcdef",
        "psap-north": "psap-north-key-0123456789abcdef", "outreach-1": "outreach-1-key-0123456789abcdef"}


@dataclass(frozen=True)
class Certs:
    ca: Pair
    server: Pair
    clients: dict[str, Pair]  # agency (or "stranger", "foreign") → client pair


def make_certs(directory: Path) -> Certs:
    ca = make_ca(directory / "ca")
    server = issue(ca, directory / "server", "localhost", server=True)
    clients = {name: issue(ca, directory / "clients", name) for name in ("ems-012", "pd-7", "stranger")}
    foreign_ca = make_ca(directory / "foreign", "Someone else's CA")
    clients["foreign"] = issue(foreign_ca, directory / "foreign", "ems-012")  # right name, wrong CA
    return Certs(ca, server, clients)


def edge_settings(certs: Certs, prefix: str, **changes) -> Settings:
    agencies = {
        "ems-012": AgencyCredential(kind="ems", api_keys=[SecretStr(KEYS["ems-012"])], cert_subjects=["ems-012"],
                                    agency_ids=["ems-012", "EMS-012"]),  # its NEMSIS number and its HL7 MSH-4
        "outreach-1": AgencyCredential(kind="deflection", may_send=["field", "consent"],
                                       api_keys=[SecretStr(KEYS["outreach-1"])]),
        "pd-7": AgencyCredential(kind="law-enforcement", may_send=["field", "consent"], cert_subjects=["pd-7"],
                                 api_key_sha256=[hashlib.sha256(KEYS["pd-7"].encode()).hexdigest()]),
        "psap-north": AgencyCredential(kind="psap", may_send=["eido", "cad"], api_keys=[SecretStr(KEYS["psap-north"])]),
    }
    edges = dict(host="127.0.0.1", tls_cert=certs.server.cert, tls_key=certs.server.key, client_ca=certs.ca.cert,
                 agencies=agencies, commit_timeout=5.0, mllp_frame_timeout=1.0, mllp_idle_timeout=5.0,
                 max_body_bytes=256 * 1024, mllp_max_message_bytes=64 * 1024) | changes
    return Settings(environment="test", programme_id="demo", kafka={"topic_prefix": prefix},
                    ingest={"agency_dispatch_centre": {"ems-012": "psap-north", "pd-7": "psap-north"}},
                    edges=EdgeSettings(**edges))


@contextlib.asynccontextmanager
async def running_intake(settings: Settings, sink, catalogue, registry=None):
    edge = build_edge(settings, sink, catalogue, name="edge http")
    server = http_server(settings, edge, registry)
    # IPPROTO_TCP named: asyncio turns on TCP_NODELAY only for sockets that say so; a bare
    # socket.socket() (proto 0) leaves Nagle on and every response waits ~40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}", edge
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_mllp(settings: Settings, sink, catalogue):
    edge = build_edge(settings, sink, catalogue, name="edge mllp")
    listener = mllp_listener(settings, edge)
    host, port = await listener.start("127.0.0.1", 0)
    try:
        yield (host, port), edge
    finally:
        await listener.close()


class MllpClient:
    """A real MLLP client over TLS: send a frame, read one ACK frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, address: tuple[str, int], certs: Certs, client: str | None) -> "MllpClient":
        pair = certs.clients[client] if client else None
        ctx = client_context(certs.ca.cert, pair.cert if pair else None, pair.key if pair else None)
        reader, writer = await asyncio.open_connection(*address, ssl=ctx, server_hostname="localhost")
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_ack(self, timeout: float = 10.0) -> bytes | None:
        """The next ACK frame's message, or None when the server closed the connection."""
        try:
            data = await asyncio.wait_for(self.reader.readuntil(END), timeout)
        except asyncio.IncompleteReadError:
            return None
        return data[data.index(START) + 1:-len(END)]

    async def call(self, message: bytes) -> bytes | None:
        await self.send_raw(wrap(message))
        return await self.read_ack()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def msa(ack: bytes) -> list[str]:
    segments = {s.split("|")[0]: s.split("|") for s in ack.decode().split("\r") if s}
    return segments["MSA"] + (["ERR:" + segments["ERR"][3] + ":" + segments["ERR"][8]] if "ERR" in segments else [])


@contextlib.contextmanager
def frozen(pid: int):
    """The broker process stopped (SIGSTOP) and always resumed: a broker that does not answer."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def emsdataset(pcrs: list[tuple[str | None, str]], agency: str = "ems-012") -> bytes:
    """A small NEMSIS EMSDataSet; each (uuid or None, incident number); a None uuid and an
    empty incident number make a PCR without identity (refused)."""
    reports = []
    for uuid, incident in pcrs:
        ident = f' UUID="{uuid}"' if uuid else ""
        number = f"<eRecord.01>PCR-{uuid}</eRecord.01>" if uuid else ""
        reports.append(
            f"<PatientCareReport{ident}><eRecord>{number}</eRecord><eResponse><eResponse.AgencyGroup>"
            f"<eResponse.01>{agency}</eResponse.01></eResponse.AgencyGroup><eResponse.03>{incident}</eResponse.03>"
            "</eResponse><eTimes><eTimes.01>2024-10-07T20:20:00-04:00</eTimes.01></eTimes>"
            "<eSituation><eSituation.11>T40.1X1A</eSituation.11></eSituation></PatientCareReport>")
    return ('<EMSDataSet xmlns="http://www.nemsis.org"><Header><DemographicGroup><dAgency.02>' + agency +
            "</dAgency.02></DemographicGroup>" + "".join(reports) + "</Header></EMSDataSet>").encode()
