"""Each component's Kafka principal may do what pipeline/kafka/acls.yaml allows and is
refused everything else, on a real broker with TLS + SASL/SCRAM-SHA-512 + the
StandardAuthorizer (tests/support/secure_kafka.py): every principal x catalogued topic x
{read, write}, the consumer groups, and a wrong password."""
from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from pipeline.kafka.secure import allowed, bindings, client_options, create_acls, load_acls
from pipeline.topics import Catalogue, create_topics
from tests.support import secure_kafka

pytestmark = pytest.mark.kafka
COMPONENTS = sorted(load_acls())
PASSWORDS = {f"handoff-{c}": f"{c}-test-password-{os.getpid()}" for c in COMPONENTS}  # made here, for this run


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    broker = secure_kafka.start(tmp_path_factory.mktemp("secure-kafka") / "run", PASSWORDS)
    yield broker
    broker.stop()


def _options(secure, user: str, password: str | None = None) -> dict:
    return client_options(secure.settings(user, password or PASSWORDS[user]))


async def _prepare(secure, catalogue: Catalogue) -> list:
    admin_options = _options(secure, *secure_kafka.ADMIN)
    await create_topics(secure.bootstrap, catalogue, **admin_options)
    admin = AIOKafkaAdminClient(bootstrap_servers=secure.bootstrap, **admin_options)
    await admin.start()
    try:
        bound = bindings(catalogue, group_base="acl-group")
        await create_acls(admin, bound)
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=secure.bootstrap, acks="all", **admin_options)
    await producer.start()
    try:  # one record on every topic, so that an allowed read has something to return
        await asyncio.gather(*[producer.send_and_wait(t.full_name, b"x", key=b"k") for t in catalogue])
    finally:
        await producer.stop()
    return bound


async def _can_write(secure, user: str, topics: list[str]) -> dict[str, bool]:
    producer = AIOKafkaProducer(bootstrap_servers=secure.bootstrap, acks="all", request_timeout_ms=10000,
                                **_options(secure, user))
    await producer.start()
    seen = {}
    try:
        for topic in topics:
            try:
                await asyncio.wait_for(producer.send_and_wait(topic, b"probe", key=b"k"), 15)
                seen[topic] = True
            except TopicAuthorizationFailedError:
                seen[topic] = False
    finally:
        await producer.stop()
    return seen


async def _can_read(secure, user: str, topics: list[str]) -> dict[str, bool]:
    """Refused: the topic is not even visible (no Describe), or the fetch is refused;
    allowed: the record put there is read back. Anything else fails the test."""
    consumer = AIOKafkaConsumer(bootstrap_servers=secure.bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", **_options(secure, user))
    await consumer.start()
    seen = {}
    try:
        visible = await consumer.topics()
        for topic in topics:
            if topic not in visible:
                seen[topic] = False
                continue
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            try:
                batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=5000), 15)
                assert batch.get(tp), f"{user} read nothing from {topic} and was not refused"
                seen[topic] = True
            except TopicAuthorizationFailedError:
                seen[topic] = False
    finally:
        await consumer.stop()
    return seen


async def _group(secure, user: str, group: str, topic: str) -> bool:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=secure.bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, **_options(secure, user))
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 30)
        await consumer.commit()
        return True
    except GroupAuthorizationFailedError:
        return False
    finally:
        await consumer.stop()


def test_each_component_is_refused_beyond_its_acls(secure):
    catalogue = Catalogue(prefix="acl", partitions=1)
    bound = asyncio.run(_prepare(secure, catalogue))
    topics = [t.full_name for t in catalogue]
    for component in COMPONENTS:
        user = f"handoff-{component}"
        principal = f"User:{user}"
        observed = {"write": asyncio.run(_can_write(secure, user, topics)),
                    "read": asyncio.run(_can_read(secure, user, topics))}
        for operation, cells in observed.items():
            expected = {topic: allowed(bound, principal, topic, operation) for topic in topics}
            assert cells == expected, (component, operation,
                                       {t: (cells[t], expected[t]) for t in topics if cells[t] != expected[t]})
        assert any(observed["write"].values()) and not all(observed["write"].values()), component
    # the two examples, named: ingest writes the input topics only; delivery reads the outbox only
    reads = {t.name for t in catalogue if allowed(bound, "User:handoff-delivery", t.full_name, "read")}
    assert reads == {"delivery", "delivery.retry.1m", "delivery.retry.10m", "delivery.retry.1h"}
    writes = {t.name for t in catalogue if allowed(bound, "User:handoff-edge", t.full_name, "write")}
    assert {"ems.run", "dispatch.incident", "field.referral"} <= writes and "delivery" not in writes


def test_consumer_groups_and_credentials_are_enforced(secure):
    catalogue = Catalogue(prefix="acl", partitions=1)
    delivery = catalogue["delivery"].full_name
    assert asyncio.run(_group(secure, "handoff-delivery", "acl-group.deliver", delivery)) is True
    assert asyncio.run(_group(secure, "handoff-delivery", "acl-group", delivery)) is False  # the worker's group
    assert asyncio.run(_group(secure, "handoff-worker", "acl-group", delivery)) is True

    async def wrong_password() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=secure.bootstrap, **_options(secure, "handoff-edge", "wrong"))
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaError):
        asyncio.run(wrong_password())


async def test_the_worker_runs_on_the_secured_broker_as_its_own_principal(secure, tmp_path):
    """`handoff worker` with the TLS + SCRAM settings (faust's broker_credentials, aiokafka's options
    for its admin calls) as `handoff-worker`, within the worker's ACLs only: it joins its group,
    and an EMS run the edge principal writes comes out detected."""
    from handoff.demo import sample_runs
    from pipeline.kafka.producer import ProducerSink
    from pipeline.stage import Writer
    from connectors.common import Parsed
    from connectors.ingest import publish
    from tests.integration.test_worker import Worker

    catalogue = Catalogue(prefix="aclw", partitions=1)
    await _prepare(secure, catalogue)  # topics and ACLs (group acl-group), one junk record on each topic
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=secure.bootstrap,
               HANDOFF_KAFKA__TOPIC_PREFIX=catalogue.prefix, HANDOFF_KAFKA__CONSUMER_GROUP="acl-group",
               HANDOFF_KAFKA__SECURITY_PROTOCOL="SASL_SSL", HANDOFF_KAFKA__SASL_USERNAME="handoff-worker",
               HANDOFF_KAFKA__SASL_PASSWORD=PASSWORDS["handoff-worker"], HANDOFF_KAFKA__SSL_CAFILE=str(secure.ca),
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}", HANDOFF_METRICS__PORT="0",
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"))
    worker = Worker("secure", env, tmp_path)
    try:
        await worker.assigned()
        [run] = sample_runs(1)
        async with ProducerSink(secure.bootstrap, **_options(secure, "handoff-edge")) as sink:
            await publish(Writer(catalogue, sink, "ingest"), [Parsed(run)], b"", "ems.run", "sample", "ingest:test",
                          run.envelope.ingested_at)
        detection = catalogue["detection"]
        consumer = AIOKafkaConsumer(detection.full_name, bootstrap_servers=secure.bootstrap, group_id=None,
                                    auto_offset_reset="earliest", **_options(secure, *secure_kafka.ADMIN))
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 60)
            assert message.value == b"x"  # _prepare's junk comes first
            message = await asyncio.wait_for(consumer.getone(), 120)
        finally:
            await consumer.stop()
        assert detection.value.decode(message.value).subject.record_id == run.envelope.source_record_id
        assert "AuthorizationFailed" not in worker.text() and "Traceback" not in worker.text(), worker.text()
    finally:
        worker.stop()
