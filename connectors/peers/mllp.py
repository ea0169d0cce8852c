"""An MLLP receiver on loopback (TLS optional) that behaves as told, one behaviour per message:
`AA`, `AE`, `AR`, `silent` (reads, never answers) or `reset` (reads, closes at once), then the
default. Like a receiving system it keeps one message per control id (MSH-10): a repeat is
acknowledged again and not stored twice; `referrals()` counts REF messages per RF1-6."""
from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict

from connectors.edge.framing import FrameError, Frames, Idle, wrap
from connectors.hl7v2.ack import build_ack


def _fields(message: bytes, segment: str) -> list[str]:
    for line in message.decode("utf-8", "replace").split("\r"):
        if line.startswith(segment + "|"):
            return line.split("|")
    return []


class MllpPeer:
    def __init__(self, default: str = "AA", tls: ssl.SSLContext | None = None) -> None:
        self.default = default
        self.tls = tls
        self.script: list[str] = []  # behaviours for the next messages, in order
        self.received: list[bytes] = []  # every frame, repeats included
        self.held: dict[str, bytes] = {}  # MSH-10 -> message: what the receiving system keeps
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, port: int = 0) -> "MllpPeer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"{'mllps' if self.tls else 'mllp'}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            frames = Frames(reader, 1024 * 1024, 10.0, 10.0)
            while (message := await frames.next()) is not None:
                self.received.append(message)
                behaviour = self.script.pop(0) if self.script else self.default
                if behaviour == "reset":
                    self.held.setdefault(_fields(message, "MSH")[9], message)
                    writer.transport.abort()
                    return
                if behaviour == "silent":  # kept, never acknowledged
                    self.held.setdefault(_fields(message, "MSH")[9], message)
                    await reader.read()  # until the sender gives up and closes
                    return
                if behaviour == "AA":
                    self.held.setdefault(_fields(message, "MSH")[9], message)
                reason = {"AE": "PID-3 patient identifier unknown here", "AR": "receiving facility not served"}
                writer.write(wrap(build_ack(message, behaviour, reason.get(behaviour, ""))))
                await writer.drain()
        except (Idle, FrameError, OSError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def referrals(self) -> dict[str, list[str]]:
        """RF1-6 referral id -> the triggers (I12/I13/I14) of the messages held for it."""
        out: dict[str, list[str]] = defaultdict(list)
        for message in self.held.values():
            rf1, msh = _fields(message, "RF1"), _fields(message, "MSH")
            out[rf1[6].split("^")[0]].append(msh[8].split("^")[1])
        return dict(out)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
