"""Test helpers over raw aiokafka: produce and consume shared records on catalogued topics."""
from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.records import Record
from pipeline.topics import Topic


async def produce(bootstrap: str, topic: Topic, items: list[tuple[Record, Record]] | list[tuple[bytes, bytes]],
                  headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in items:
            k = topic.key.encode(key) if isinstance(key, Record) else key
            v = topic.value.encode(value) if isinstance(value, Record) else value
            await producer.send_and_wait(topic.full_name, v, key=k, headers=headers or [])
    finally:
        await producer.stop()


async def consume_raw(bootstrap: str, topic: Topic, count: int, timeout: float = 30.0):
    """The first `count` messages of `topic` (all partitions, from the beginning)."""
    consumer = AIOKafkaConsumer(topic.full_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    got = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                got.extend(messages)
    finally:
        await consumer.stop()
    return got


async def consume(bootstrap: str, topic: Topic, count: int, timeout: float = 30.0) -> list[Record]:
    return [topic.value.decode(m.value) for m in await consume_raw(bootstrap, topic, count, timeout)]


async def settle(seconds: float = 1.0) -> None:
    """Give the broker a moment when a test asserts that nothing more arrives."""
    await asyncio.sleep(seconds)


def poll(check, timeout: float = 40.0, what: str = "a condition"):
    """Call a (blocking) check until it returns something truthy; fail after `timeout` (sync tests,
    e.g. the browser tests, which run on Playwright's thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def until(check, timeout: float = 40.0):
    """Poll a (blocking) check in a thread until it returns something truthy; fail after `timeout`."""
    for _ in range(int(timeout / 0.25)):
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError("timed out")
