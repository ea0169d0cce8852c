"""HL7 v2 outbound (endpoint kind hl7v2-mllp): REF^I12/I13/I14 over MLLP, TLS for `mllps://host:port`,
plain for `mllp://host:port`.

One connection per message: connect, write the frame, read the ACK within `ack_timeout`; at most
`connections` at once to one receiver (`per_endpoint`: the deliver stage sends one endpoint's messages
one at a time, in order, by default).

    nothing written yet (refused, TLS failure, connect timeout)  Transient: try later
    AA / CA                                                     delivered
    AE / AR / CE / CR                                           Permanent, with the ERR reason
    written, then no ACK in time, a reset or an unreadable one  Ambiguous: resent later with the
                                                                same MSH-10 (the recipient drops a
                                                                repeat of a control id it holds)
"""
from __future__ import annotations

import asyncio
import ssl
import uuid
from urllib.parse import urlsplit

from connectors.edge.framing import FrameError, Frames, Idle, wrap
from pipeline import records as r
from pipeline.deliver import Ambiguous, Receipt
from pipeline.errors import Permanent, Transient
from pipeline.render.hl7 import BadReply, parse_reply

MAX_REPLY = 1024 * 1024


def address_of(address: str) -> tuple[str, int, bool]:
    """(host, port, tls) of an `mllps://host:port` or `mllp://host:port` address."""
    parts = urlsplit(address if "://" in address else f"mllps://{address}")
    if parts.scheme not in ("mllp", "mllps") or not parts.hostname or not parts.port:
        raise Permanent(f"not an MLLP address (mllps://host:port): {address[:100]!r}", dependency="peer")
    return parts.hostname, parts.port, parts.scheme == "mllps"


def control_id(message: bytes) -> str:
    return message.split(b"\r", 1)[0].decode("utf-8", "replace").split("|")[9]


def with_control_id(message: bytes, new: str) -> bytes:
    """The message with another MSH-10 (only when idempotency is switched off, to show what it prevents)."""
    head, _, rest = message.partition(b"\r")
    fields = head.split(b"|")
    fields[9] = new.encode()
    return b"|".join(fields) + b"\r" + rest


class MllpConnector:
    name = "hl7v2-mllp"

    def __init__(self, settings, idempotent: bool = True) -> None:
        self.settings = settings  # pipeline.settings.MllpDelivery
        self.idempotent = idempotent
        self._tls: ssl.SSLContext | None = None
        self.per_endpoint = settings.connections

    def tls(self) -> ssl.SSLContext:
        if self._tls is None:
            s = self.settings
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(s.ca_bundle) if s.ca_bundle else None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if s.client_cert is not None:
                ctx.load_cert_chain(s.client_cert, s.client_key)
            self._tls = ctx
        return self._tls

    async def deliver(self, delivery: r.Delivery) -> Receipt:
        host, port, tls = address_of(delivery.endpoint.address)
        message = delivery.payload if self.idempotent else with_control_id(delivery.payload, uuid.uuid4().hex[:20])
        ours = control_id(message)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self.tls() if tls else None,
                                        server_hostname=host if tls else None), self.settings.connect_timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            raise Transient(f"MLLP {host}:{port} not reached: {type(e).__name__}", dependency="peer") from None
        try:
            writer.write(wrap(message))
            await writer.drain()
            frames = Frames(reader, MAX_REPLY, self.settings.ack_timeout, self.settings.ack_timeout)
            reply = await asyncio.wait_for(frames.next(), self.settings.ack_timeout)
        except (asyncio.TimeoutError, Idle):
            raise Ambiguous(f"no ACK for {ours} within {self.settings.ack_timeout:g} s", dependency="peer") from None
        except (OSError, FrameError, ssl.SSLError) as e:
            raise Ambiguous(f"connection lost waiting for the ACK of {ours}: {type(e).__name__}", dependency="peer") from None
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2.0)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass
        if reply is None:
            raise Ambiguous(f"the peer closed without an ACK for {ours}", dependency="peer")
        parsed = parse_reply(reply)
        if isinstance(parsed, BadReply):
            raise Ambiguous(f"unreadable reply to {ours}: {parsed.reason}", dependency="peer")
        if parsed.acknowledges != ours:
            raise Ambiguous(f"the reply acknowledges {parsed.acknowledges[:20]!r}, not {ours}", dependency="peer")
        if parsed.permanent:
            raise Permanent(f"{parsed.ack_code}: {parsed.reason or 'refused by the recipient'}", dependency="peer")
        return Receipt(delivered=True, duplicate=False, detail=parsed.ack_code)

    async def aclose(self) -> None:
        return None
