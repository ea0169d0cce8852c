"""The MLLP listener: HL7 v2 ePCR messages (ORU^R01, ADT^A04/A08) over TLS → ems.run.

One asyncio server; each connection is handled in order, one message at a time, as HL7
original-mode senders expect (the next message waits for this one's ACK):
- the client certificate (mutual TLS) names the agency; a connection without a known
  certificate gets AR "not authenticated" to its first message and is closed, a failed
  handshake is closed; both are counted;
- a message is parsed (connectors/hl7v2) and committed (`Edge.commit`: audit first,
  acks=all); MSA AA is sent only after the commit. Bad content → AE with ERR and the reason;
  an unreadable message or an unsupported type → AR (ERR 200 for the type); both are dead
  letters with the original bytes. The broker not committing within the timeout → AR
  "not stored; resend" (nothing accepted; a resend repeats the event ids);
- a truncated frame (closed inside it), an oversized one, a slow one (not finished within
  the frame timeout) → a dead letter with the bytes received, AR when the connection is
  still open, then close. A silent connection is closed after the idle timeout;
- no exception from one connection reaches the server: the listener never dies.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time

from connectors.common import Parsed, Refused
from connectors.edge.auth import Agency
from connectors.edge.commit import Batch, Edge, Unavailable
from connectors.edge.framing import FrameError, Frames, Idle, wrap
from connectors.edge.tls import peer_der
from connectors import parsers
from connectors.hl7v2 import build_ack, read_header

log = logging.getLogger(__name__)
EDGE = "mllp"
TOPIC = "ems.run"


class MllpListener:
    def __init__(self, edge: Edge, tls: ssl.SSLContext | None, *, max_bytes: int = 1024 * 1024,
                 frame_timeout: float = 30.0, idle_timeout: float = 300.0, handshake_timeout: float = 10.0,
                 write_timeout: float = 10.0) -> None:
        self.edge = edge
        self.tls = tls
        self.max_bytes = max_bytes
        self.frame_timeout = frame_timeout
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.write_timeout = write_timeout
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._connection, host, port, limit=self.max_bytes + 2)
        return self.server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                agency = await self._handshake(writer)
            except (OSError, asyncio.TimeoutError) as error:  # ssl.SSLError is an OSError
                self.edge.metrics.unauthenticated.labels(EDGE, "tls").inc()
                log.info("mllp: TLS handshake failed: %s", type(error).__name__)
                return
            await self._serve(reader, writer, agency)
        except (OSError, asyncio.TimeoutError) as error:
            log.info("mllp: connection ended: %s", type(error).__name__)
        except Exception as error:  # a bug in one connection must not reach the server
            self.edge.metrics.requests.labels(EDGE, "error").inc()
            log.error("mllp: connection failed: %s", type(error).__name__)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, agency: Agency | None) -> None:
        metrics = self.edge.metrics
        frames = Frames(reader, self.max_bytes, self.frame_timeout, self.idle_timeout)
        while True:
            try:
                frame = await frames.next()
            except Idle:
                return
            except FrameError as error:
                await self._bad_frame(error, agency, writer)
                return
            if frame is None:
                return
            if agency is None:
                metrics.unauthenticated.labels(EDGE, "no-certificate").inc()
                metrics.requests.labels(EDGE, "unauthenticated").inc()
                await self._send(writer, build_ack(frame, "AR", "not authenticated: a known client certificate "
                                                   "is required", at=self.edge.clock.now()))
                return
            await self._send(writer, await self.handle(frame, agency))

    async def _handshake(self, writer: asyncio.StreamWriter) -> Agency | None:
        if self.tls is None:
            return None  # without TLS nobody is authenticated: every message gets AR
        await writer.start_tls(self.tls, ssl_handshake_timeout=self.handshake_timeout)
        return self.edge.credentials.by_cert(peer_der(writer.get_extra_info("ssl_object")))

    async def _send(self, writer: asyncio.StreamWriter, ack: bytes) -> None:
        writer.write(wrap(ack))
        await asyncio.wait_for(writer.drain(), self.write_timeout)

    async def handle(self, frame: bytes, agency: Agency) -> bytes:
        """One complete message from an authenticated agency → the ACK to send (after the commit)."""
        started = time.perf_counter()
        ctx = self.edge.context(agency)
        head = read_header(frame)
        if isinstance(head, Refused):
            results, code, error_code = [head], "AR", "207"
        elif (kind := parsers.for_message_type(head.message_type, head.trigger)) is None:
            reason = f"message type {head.message_type} {head.trigger} is not accepted here"
            results, code, error_code = [Refused(head.control_id or None, reason)], "AR", "200"
        else:
            results, code, error_code = kind.parse(frame, ctx), "AE", "207"
        if any(isinstance(x, Parsed) for x in results):
            code = "AA"
        try:
            done = await self.edge.commit(EDGE, [Batch(TOPIC, results)], frame, f"mllp:{agency.id}", agency, ctx)
        except Unavailable:
            code, reason = "AR", "not stored: the receiver could not commit the message in time; resend later"
            done = None
        else:
            reason = "; ".join(x.reason for x in done.refused)
        self.edge.metrics.requests.labels(EDGE, code if done is not None else "unavailable").inc()
        self.edge.metrics.seconds.labels(EDGE).observe(time.perf_counter() - started)
        return build_ack(frame, code, reason, error_code=error_code, at=self.edge.clock.now())

    async def _bad_frame(self, error: FrameError, agency: Agency | None, writer: asyncio.StreamWriter) -> None:
        metrics = self.edge.metrics
        metrics.requests.labels(EDGE, error.kind).inc()
        if agency is not None:  # unauthenticated bytes are never written to Kafka
            ctx = self.edge.context(agency)
            with contextlib.suppress(Unavailable):
                await self.edge.commit(EDGE, [Batch(TOPIC, [Refused(None, error.reason)])], error.partial,
                                       f"mllp:{agency.id}", agency, ctx)
        if error.kind != "truncated":
            with contextlib.suppress(Exception):
                await self._send(writer, build_ack(error.partial, "AR", error.reason, at=self.edge.clock.now()))
