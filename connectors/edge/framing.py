"""MLLP framing (0x0B message 0x1C 0x0D) over an asyncio stream, with limits and timeouts.

`Frames.next()` returns the next message, None at a clean end of stream, or raises
`FrameError` with a reason and the bytes received so far: `truncated` (the sender closed
inside a frame), `oversized` (more than `max_bytes` without an end), `slow` (the frame was
not finished within `frame_timeout` of its start byte). Bytes between frames are ignored,
as MLLP receivers do. `Idle` says nothing started within `idle_timeout`.
"""
from __future__ import annotations

import asyncio
from typing import Literal

START = b"\x0b"
END = b"\x1c\x0d"
CHUNK = 64 * 1024


def wrap(message: bytes) -> bytes:
    return START + message + END


class Idle(Exception):
    pass


class FrameError(Exception):
    def __init__(self, kind: Literal["truncated", "oversized", "slow"], reason: str, partial: bytes) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.partial = partial


class Frames:
    def __init__(self, reader: asyncio.StreamReader, max_bytes: int, frame_timeout: float,
                 idle_timeout: float) -> None:
        self.reader = reader
        self.max_bytes = max_bytes
        self.frame_timeout = frame_timeout
        self.idle_timeout = idle_timeout
        self.buffer = bytearray()

    async def _read(self, timeout: float) -> bytes:
        return await asyncio.wait_for(self.reader.read(CHUNK), max(timeout, 0.0))

    async def next(self) -> bytes | None:
        while True:  # find the start byte; whatever precedes it is noise
            at = self.buffer.find(START)
            if at >= 0:
                del self.buffer[:at + 1]
                break
            self.buffer.clear()
            try:
                chunk = await self._read(self.idle_timeout)
            except asyncio.TimeoutError:
                raise Idle from None
            if not chunk:
                return None
            self.buffer += chunk
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.frame_timeout
        scanned = 0
        while True:
            end = self.buffer.find(END, max(scanned - 1, 0))
            if end >= 0:
                message = bytes(self.buffer[:end])
                del self.buffer[:end + len(END)]
                return message
            scanned = len(self.buffer)
            if scanned > self.max_bytes:
                raise FrameError("oversized", f"message exceeds {self.max_bytes} bytes",
                                 bytes(self.buffer[:self.max_bytes]))
            try:
                chunk = await self._read(deadline - loop.time())
            except asyncio.TimeoutError:
                raise FrameError("slow", f"frame not completed within {self.frame_timeout:g} s",
                                 bytes(self.buffer)) from None
            if not chunk:
                raise FrameError("truncated", "connection closed inside a frame (no 0x1C 0x0D)", bytes(self.buffer))
            self.buffer += chunk
