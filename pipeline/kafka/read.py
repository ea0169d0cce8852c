"""Read what a topic holds now, outside any consumer group (summaries, dead letters, tools)."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def read_topic(bootstrap: str, full_name: str, count_only: bool = False, since_ms: int | None = None,
                     **options) -> list | int:
    """Every message `full_name` holds now, from each partition's beginning (or its first message
    at or after `since_ms`, a timestamp in milliseconds) to its end offset when called (or only how
    many, with `count_only`). A topic that does not exist holds none. `options`: the client's TLS/SASL."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        [described] = await admin.describe_topics([full_name])
    finally:
        await admin.close()
    tps = [TopicPartition(full_name, p["partition"]) for p in described.get("partitions") or []]
    if not tps:
        return 0 if count_only else []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", **options)
    await consumer.start()
    try:
        starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        if since_ms is not None:
            found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
            starts = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}
        if count_only:
            return sum(ends[tp] - starts[tp] for tp in tps)
        wanted = [tp for tp in tps if ends[tp] > starts[tp]]
        if not wanted:
            return []
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, starts[tp])
        out, left = [], set(wanted)
        while left:
            for tp, messages in (await consumer.getmany(*left, timeout_ms=500)).items():
                out += [m for m in messages if m.offset < ends[tp]]
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()
