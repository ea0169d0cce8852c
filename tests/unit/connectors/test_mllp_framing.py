"""MLLP framing over an asyncio stream fed in pieces: frames, noise, limits and timeouts."""
from __future__ import annotations

import asyncio

import pytest

from connectors.edge.framing import FrameError, Frames, Idle, wrap


def frames(*chunks: bytes, eof: bool = True, max_bytes: int = 1000, frame_timeout: float = 0.2,
           idle_timeout: float = 0.2) -> Frames:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return Frames(reader, max_bytes, frame_timeout, idle_timeout)


async def test_frames_split_across_reads_and_noise_between_them():
    data = b"\r\n" + wrap(b"MSH|one") + b"junk" + wrap(b"MSH|two")
    f = frames(*[data[i:i + 3] for i in range(0, len(data), 3)])
    assert [await f.next(), await f.next(), await f.next()] == [b"MSH|one", b"MSH|two", None]


async def test_a_lone_0x1c_inside_is_not_an_end():
    f = frames(b"\x0bMSH|a\x1cb\x1c\x0d")
    assert await f.next() == b"MSH|a\x1cb"


@pytest.mark.parametrize("chunks, eof, kind, partial", [
    ((b"\x0bMSH|cut",), True, "truncated", b"MSH|cut"),
    ((b"\x0bMSH|" + b"x" * 2000,), False, "oversized", (b"MSH|" + b"x" * 2000)[:1000]),
    ((b"\x0bMSH|slow",), False, "slow", b"MSH|slow"),
])
async def test_bad_frames_say_why_and_keep_what_arrived(chunks, eof, kind, partial):
    with pytest.raises(FrameError) as caught:
        await frames(*chunks, eof=eof).next()
    assert caught.value.kind == kind and caught.value.partial == partial and caught.value.reason


async def test_silence_between_frames_is_idle():
    with pytest.raises(Idle):
        await frames(eof=False).next()
