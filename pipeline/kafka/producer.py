"""The plain aiokafka producer for edges outside faust: acks=all, idempotent, as a `Sink`."""
from __future__ import annotations

from aiokafka import AIOKafkaProducer

from pipeline.kafka.faust_app import MAX_REQUEST_BYTES
from pipeline.stage import Headers


class ProducerSink:
    def __init__(self, bootstrap: str, **options) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                         max_request_size=MAX_REQUEST_BYTES, **options)

    async def __aenter__(self) -> "ProducerSink":
        try:
            await self.producer.start()
        except BaseException:  # a broker that cannot be reached: close what start() opened
            await self.producer.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        await self.producer.send_and_wait(topic, value, key=key, headers=list(headers))
