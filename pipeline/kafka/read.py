"""Read what a topic holds now, outside any consumer group (summaries, dead letters, tools)."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition


async def read_topic(bootstrap: str, full_name: str, count_only: bool = False) -> list | int:
    """Every message `full_name` holds now, from each partition's beginning to its end offset
    when called (or only how many, with `count_only`). A topic that does not exist holds none."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()  # fresh metadata
        partitions = consumer.partitions_for_topic(full_name) or set()
        tps = [TopicPartition(full_name, p) for p in sorted(partitions)]
        if not tps:
            return 0 if count_only else []
        starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        if count_only:
            return sum(ends[tp] - starts[tp] for tp in tps)
        wanted = [tp for tp in tps if ends[tp] > starts[tp]]
        if not wanted:
            return []
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, starts[tp])
        out = []
        while any(await consumer.position(tp) < ends[tp] for tp in wanted):
            for tp, messages in (await consumer.getmany(*wanted, timeout_ms=500)).items():
                out += [m for m in messages if m.offset < ends[tp]]
        return out
    finally:
        await consumer.stop()
