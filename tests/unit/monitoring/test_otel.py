"""OpenTelemetry: off by default; with an exporter each stage attempt is a span in the message's own trace,
with its place and event id as attributes and never its content (the SDK's in-memory exporter)."""
from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline import otel
from pipeline.clock import FixedClock
from pipeline.metrics import Metrics
from pipeline.settings import OtelSettings
from pipeline.stage import Incoming, Result, Stage, StageRunner
from pipeline.topics import Catalogue
from pipeline.vocab import AuditKind
from tests.support.factory import ems_run

TRACE, PARENT = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


class Memory:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    async def send(self, topic, key, value, headers) -> None:
        self.sent.append((topic, headers))


def test_off_by_default():
    assert OtelSettings().exporter == "none" and otel.configure(OtelSettings()) is False and otel._PROVIDER is None


@pytest.mark.parametrize("fails", [False, True])
async def test_each_attempt_is_a_span_in_the_message_trace(monkeypatch, fails):
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(otel, "_PROVIDER", provider)
    catalogue = Catalogue("t-otel")
    run = ems_run("PCR-O")

    def detect(value, ctx):
        if fails:
            raise ValueError("no")
        return Result()
    stage = Stage("detect", "ems.run", detect, AuditKind.DETECTION, outputs=("detection",))
    runner = StageRunner(stage, catalogue, Memory(), FixedClock(run.envelope.ingested_at), Metrics())
    ems = catalogue["ems.run"]
    await runner.handle(Incoming(ems.full_name, 1, 42, ems.key.encode(run.key), ems.value.encode(run),
                                 [("traceparent", f"00-{TRACE}-{PARENT}-01".encode())]))
    [span] = spans.get_finished_spans()
    assert span.name == "stage detect" and f"{span.context.trace_id:032x}" == TRACE
    assert f"{span.parent.span_id:016x}" == PARENT
    assert dict(span.attributes) == {"handoff.stage": "detect", "handoff.event_id": run.envelope.event_id,
                                     "messaging.system": "kafka", "messaging.destination.name": ems.full_name,
                                     "messaging.kafka.partition": 1, "messaging.kafka.offset": 42}
    assert (span.status.status_code.name == "ERROR") is fails
    assert "Testperson" not in str(span.to_json())
