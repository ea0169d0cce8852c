"""W3C trace context (traceparent) carried in Kafka headers from ingest to delivery.

A message without one gets a trace id derived from its correlation id, so a replay of
the same record lands in the same trace. Span ids are random: a span is one processing.
"""
from __future__ import annotations

import re
import secrets

from pipeline.ids import digest

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a valid traceparent, else None."""
    match = _TRACEPARENT.match(traceparent or "")
    if not match or match[1] == "0" * 32 or match[2] == "0" * 16:
        return None
    return match[1], match[2]


def trace_id_of(traceparent: str | None, value: object) -> str:
    parsed = parse(traceparent)
    if parsed:
        return parsed[0]
    envelope = getattr(value, "envelope", None)
    seed = envelope.correlation_id if envelope is not None else repr(value)[:200]
    return digest(seed, length=32)


def child_traceparent(trace_id: str, parent: str | None = None) -> str:
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def new_traceparent() -> str:
    return child_traceparent(secrets.token_hex(16))
