"""What `handoff tail TOPIC` shows: the newest records of a topic, decoded, person data masked.

    async for line in tail(bootstrap, topic, last=10, follow=False, show_phi=False): print(line)

Each record is one JSON object: topic, partition, offset, timestamp, key and value decoded with
the topic's codec (a record that does not decode: its error type and its size, never its bytes).
Unless `show_phi`, every field named in PERSON_FIELDS and every bytes field (raw payloads, a dead
letter's original bytes, rendered messages) is replaced by "[masked]" at any depth; ids, tokens,
codes and times stay, which is what an operator needs to follow a record through the pipeline.
"""
from __future__ import annotations

import base64
import json
from typing import AsyncIterator

from pipeline.topics import Topic

MASK = "[masked]"
# names and contact details, birth date and age, free text that may quote a person, raw bytes
PERSON_FIELDS = frozenset({
    "family", "given", "middle", "birth_date", "age", "subject_age", "phone", "street", "city", "zip",
    "latitude", "longitude", "narrative", "note", "body", "payload", "evidence", "call_type_text",
    "dispatch_reason", "signer", "signed_by", "value", "key", "headers", "reason", "refusal_reasons",
})


def masked(data: object, show_phi: bool = False) -> object:
    """`data` (a record's model_dump(mode="python")) as JSON-ready values, person data masked."""
    if isinstance(data, dict):
        return {k: (MASK if not show_phi and k in PERSON_FIELDS and v not in (None, "", [], {}) else
                    masked(v, show_phi)) for k, v in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [masked(v, show_phi) for v in data]
    if isinstance(data, bytes):
        return base64.b64encode(data).decode() if show_phi else MASK
    if isinstance(data, (str, int, float, bool)) or data is None:
        return data
    return str(data)  # dates, enums, decimals


def render(topic: Topic, message, show_phi: bool = False) -> str:
    """One consumed message as one JSON line."""
    line: dict[str, object] = {"topic": topic.name, "partition": message.partition, "offset": message.offset,
                               "timestamp": message.timestamp}
    for part, codec, raw in (("key", topic.key, message.key), ("value", topic.value, message.value)):
        if raw is None:
            line[part] = None
            continue
        try:
            line[part] = masked(codec.decode(raw).model_dump(mode="python"), show_phi)
        except Exception as e:  # noqa: BLE001 - bytes that are not the topic's record: say so, show nothing
            line[part] = {"undecodable": type(e).__name__, "bytes": len(raw)}
    return json.dumps(line, ensure_ascii=False, sort_keys=False)


async def tail(bootstrap: str, topic: Topic, last: int = 10, follow: bool = False, show_phi: bool = False,
               poll_ms: int = 500, **client) -> AsyncIterator[str]:
    """The last `last` messages of each partition, oldest first by timestamp; then, with `follow`,
    every new one as it comes (until the caller stops iterating)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **client)
    try:
        await consumer.start()
        tps = [TopicPartition(topic.full_name, p) for p in await _partitions(bootstrap, topic.full_name, client)]
        if not tps:
            return
        starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - last))
        backlog, left = [], {tp for tp in tps if ends[tp] > max(starts[tp], ends[tp] - last)}
        while left:
            for tp, messages in (await consumer.getmany(*left, timeout_ms=poll_ms)).items():
                backlog += [m for m in messages if m.offset < ends[tp]]
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
        for message in sorted(backlog, key=lambda m: (m.timestamp, m.partition, m.offset))[-last:] if last else []:
            yield render(topic, message, show_phi)
        while follow:
            for messages in (await consumer.getmany(timeout_ms=poll_ms)).values():
                for message in messages:
                    yield render(topic, message, show_phi)
    finally:
        await consumer.stop()



async def _partitions(bootstrap: str, full_name: str, client: dict) -> list[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client)
    await admin.start()
    try:
        [described] = await admin.describe_topics([full_name])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described.get("partitions") or [])
