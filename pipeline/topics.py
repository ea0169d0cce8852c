"""The topic catalogue (pipeline/schemas/topics.yaml): names, keys, schemas, retention, dead letters.

Every topic handle in the code comes from here. `create_topics` makes them idempotently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from pipeline import records
from pipeline.avro import Codec, Registry
from pipeline.payload import PayloadCipher, SealedCodec

# Package data: the wheel ships it, so an installed copy reads the same catalogue and schemas.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_DURATION = re.compile(r"^(\d+)([hd])$")


@dataclass(frozen=True)
class Topic:
    name: str  # catalogue name, e.g. "ems.run"
    full_name: str  # on the broker, e.g. "handoff.ems.run.v1"
    key: Codec
    value: Codec
    partitions: int
    replication: int
    retention_ms: int  # -1: forever
    compacted: bool
    dead_letter: str | None  # catalogue name of its dead-letter topic
    doc: str = ""
    person_data: bool = False  # values carry data about a person (sealed when payload encryption is on)
    ingest: bool = False  # written by the edges: what senders gave once
    flush_messages: int | None = None  # fsync every N messages (single-host durability for ingest topics)

    def config(self) -> dict[str, str]:
        config = {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
        }
        if self.name.endswith(".dlq"):  # a dead letter wraps a whole input record and its headers
            config["max.message.bytes"] = str(4 * 1024 * 1024)
        if self.flush_messages:
            config["flush.messages"] = str(self.flush_messages)
        return config


class Catalogue:
    def __init__(self, prefix: str = "handoff", path: Path | None = None, registry: Registry | None = None,
                 partitions: int | None = None, cipher: PayloadCipher | None = None,
                 ingest_flush_messages: int | None = None):
        """`partitions` overrides every topic's count (tests use 1 or 2 to create topics quickly);
        `cipher` seals the values of the person-data topics (pipeline/payload.py);
        `ingest_flush_messages` sets flush.messages on the ingest topics."""
        path = path or SCHEMA_DIR / "topics.yaml"
        self.registry = registry or Registry(path.parent)
        spec = yaml.safe_load(path.read_text())
        self.version = spec["version"]
        self.prefix = prefix
        defaults = spec["defaults"]
        self.topics: dict[str, Topic] = {}
        for name, entry in spec["topics"].items():
            entry = {**defaults, **entry}
            value = self.registry.codec(_record_class(name, entry["value"]))
            if cipher and entry["person_data"]:
                value = SealedCodec(value, cipher)
            self.topics[name] = Topic(
                name=name,
                full_name=f"{prefix}.{name}.{self.version}",
                key=self.registry.codec(_record_class(name, entry["key"])),
                value=value,
                partitions=partitions or int(entry["partitions"]),
                replication=int(entry["replication"]),
                retention_ms=_retention_ms(str(entry["retention"])),
                compacted=bool(entry["compacted"]),
                dead_letter=entry.get("dead_letter"),
                doc=entry.get("doc", ""),
                person_data=bool(entry["person_data"]),
                ingest=bool(entry["ingest"]),
                flush_messages=ingest_flush_messages if entry["ingest"] else None,
            )
        for topic in self.topics.values():
            if topic.dead_letter and topic.dead_letter not in self.topics:
                raise ValueError(f"{topic.name}: dead-letter topic {topic.dead_letter} is not catalogued")

    @classmethod
    def from_settings(cls, settings, **options) -> "Catalogue":
        """The site's catalogue: its topic prefix, payload encryption when it is on, the
        ingest topics' flush setting."""
        return cls(settings.kafka.topic_prefix, cipher=PayloadCipher.from_settings(settings.payload),
                   ingest_flush_messages=settings.kafka.ingest_flush_messages, **options)

    def __getitem__(self, name: str) -> Topic:
        return self.topics[name]

    def __iter__(self):
        return iter(self.topics.values())

    def by_full_name(self, full_name: str) -> Topic:
        for topic in self.topics.values():
            if topic.full_name == full_name:
                return topic
        raise KeyError(full_name)

    def dead_letter_of(self, name: str) -> Topic:
        topic = self.topics[name]
        if not topic.dead_letter:
            raise KeyError(f"{name} has no dead-letter topic")
        return self.topics[topic.dead_letter]


def _record_class(topic: str, name: str) -> type:
    cls = getattr(records, name, None)
    if not (isinstance(cls, type) and issubclass(cls, records.Record)):
        raise ValueError(f"{topic}: {name} is not a record in pipeline/records.py")
    return cls


def _retention_ms(text: str) -> int:
    if text == "forever":
        return -1
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"retention {text!r}: use <n>h, <n>d or forever")
    hours = int(match[1]) * (24 if match[2] == "d" else 1)
    return hours * 3600 * 1000


async def create_topics(bootstrap: str, catalogue: Catalogue, **admin_options: Any) -> list[str]:
    """Create every catalogued topic that does not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(t.full_name, t.partitions, t.replication, topic_configs=t.config())
            for t in catalogue if t.full_name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another worker won the race; the topics exist, which is all we need
        return [t.name for t in wanted]
    finally:
        await admin.close()
