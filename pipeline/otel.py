"""OpenTelemetry traces of the stages, only when an exporter is configured (off by default).

    configure(settings.otel)                       # handoff/cli.py: exporter none | console | otlp
    with stage_span("detect", msg, trace_id, traceparent): ...   # pipeline/stage.py, per attempt

Each attempt at a message is a CONSUMER span named `stage <name>` in the message's own trace (the
trace id the pipeline already carries in `traceparent`, so every stage of one handoff lands in one
trace), with the topic, partition, offset and event id as attributes: never record content.
Without the `otel` extra (opentelemetry-sdk) or with `exporter = none` the spans are no-ops.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager

try:
    from opentelemetry import trace
except ImportError:  # the extra is not installed: nothing to trace with
    trace = None

_PROVIDER: Any = None  # the provider `configure` made (None: the global one, a no-op unless set)


def configure(otel) -> bool:
    """Start exporting spans as `otel.exporter` says; False (and nothing changes) for `none`."""
    global _PROVIDER
    if otel.exporter == "none":
        return False
    if trace is None:
        raise RuntimeError("HANDOFF_OTEL__EXPORTER is set but opentelemetry-sdk is not installed "
                           "(pip install 'handoff[otel]')")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": otel.service_name}))
    if otel.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter(endpoint=otel.endpoint or None)
    else:
        exporter = ConsoleSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _PROVIDER = provider
    return True


def stage_span(stage: str, msg, trace_id: str, event_id: str, traceparent: str | None) -> ContextManager:
    """A span for one attempt at `msg`, a child of the message's `traceparent` (else of its trace)."""
    provider = _PROVIDER
    if trace is None or provider is None:
        return nullcontext()
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    parts = (traceparent or "").split("-")
    parent_span = parts[2] if len(parts) == 4 and len(parts[2]) == 16 else "0000000000000001"
    parent = SpanContext(trace_id=int(trace_id, 16), span_id=int(parent_span, 16), is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return provider.get_tracer("handoff.stage").start_as_current_span(
        f"stage {stage}", context=trace.set_span_in_context(NonRecordingSpan(parent)), kind=SpanKind.CONSUMER,
        attributes={"handoff.stage": stage, "handoff.event_id": event_id, "messaging.system": "kafka",
                    "messaging.destination.name": msg.topic, "messaging.kafka.partition": msg.partition,
                    "messaging.kafka.offset": msg.offset})
