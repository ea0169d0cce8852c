"""The topic catalogue on the real broker: topics created idempotently, every schema round-trips."""
from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from pipeline.topics import create_topics
from tests.support.kafka import consume_raw, produce
from tests.support.samples import samples

pytestmark = pytest.mark.kafka


async def test_every_topic_round_trips_its_key_and_value_through_the_broker(kafka, catalogue):
    examples = samples()
    for topic in catalogue:
        key, value = examples[topic.key.model], examples[topic.value.model]
        await produce(kafka.bootstrap, topic, [(key, value)])
        [message] = await consume_raw(kafka.bootstrap, topic, 1, timeout=10)
        assert topic.key.decode(message.key) == key, topic.name
        assert topic.value.decode(message.value) == value, topic.name


async def test_topics_are_created_once_with_their_catalogued_configuration(kafka, catalogue):
    assert await create_topics(kafka.bootstrap, catalogue) == []  # a second start creates nothing
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        consent, pending = catalogue["consent"], catalogue["consent.pending"]
        described = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, consent.full_name),
            ConfigResource(ConfigResourceType.TOPIC, pending.full_name)])
        configs = {}
        for response in described:
            for resource in response.resources:
                configs[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
        assert configs[consent.full_name]["cleanup.policy"] == "compact"
        assert configs[consent.full_name]["retention.ms"] == "-1"
        assert int(configs[pending.full_name]["retention.ms"]) == 45 * 24 * 3600 * 1000
        topics = await admin.describe_topics([catalogue["ems.run"].full_name])
        assert len(topics[0]["partitions"]) == 2
    finally:
        await admin.close()
