"""What every inbound parser returns, what it is given, and how its envelopes are named.

A parser is a pure function `parse_x(data: bytes, ctx: ParseContext) -> list[Parsed | Refused]`:
no clock, no network, no logging of payloads. A document with three PCRs of which one is bad
gives two `Parsed` and one `Refused`; a document that cannot be read at all gives exactly one
`Refused` with `record_id=None`. A refusal's `reason` is one sentence without payload text;
`detail` adds positions (line numbers, element ids), never values.

Versions and event ids (DESIGN.md principle 6, STYLE.md 5)
----------------------------------------------------------
A source record (a PCR, a CAD incident) arrives many times: created, amended, closed, and
resent byte for byte after a crash. Its identity is (source system, record id); each arrival
is named by two things taken from the document itself, never from the clock:

- `version`: the document's own time as Unix seconds, an ordering hint. Each parser says
  which time (NEMSIS: the latest date-time inside the PCR; EIDO: `lastUpdateTimeStamp`;
  CAD exports: an `updated_at` column, else the latest time of the row; HL7 v2: MSH-7).
  1 when the document has no time at all.
- `content_digest`: sha256 over the record's content as parsed (the record's JSON without
  its envelope). Whitespace, element order of repeats that we keep in order, or fields we
  do not read change nothing; a changed value changes it.

`event_id = uuid5(source system, record id, version, content digest)`: a replay of the same
bytes, or a resend of unchanged content, repeats the event id and is dropped downstream; an
amendment changes the digest (and usually the version) and is a new version of the same
record. Two amendments with the same version keep their arrival order (same key, same
partition). `correlation_id` is uuid5 of the incident key, so CAD and every PCR of one
incident share it.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Union

from pydantic import ValidationError

from pipeline.records import Envelope, IncidentKey, Record
from pipeline.settings import Settings

NAMESPACE = uuid.UUID("6f0c1d2e-6a55-4c1b-9f3e-2d9b7f0a4c11")  # Handoff's uuid5 namespace


@dataclass(frozen=True)
class ParseContext:
    """What the edge knows about an input; injected so parsers never read a clock or settings."""

    received_at: datetime
    sender: str
    programme_id: str
    dispatch_centre_for: Callable[[str], str]
    xsd_path: Path | None = None

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must carry a UTC offset")

    @classmethod
    def of(cls, settings: Settings, sender: str, received_at: datetime) -> "ParseContext":
        """The context an edge or a command gives its parsers, from the settings."""
        return cls(received_at=received_at, sender=sender, programme_id=settings.programme_id,
                   dispatch_centre_for=settings.dispatch_centre_for, xsd_path=settings.ingest.nemsis_xsd)


@dataclass(frozen=True)
class Parsed:
    record: Record


@dataclass(frozen=True)
class Refused:
    record_id: str | None
    reason: str
    detail: tuple[str, ...] = field(default=())


ParseResult = Union[Parsed, Refused]


def content_digest(record: Record) -> str:
    """sha256 of a record's content: its JSON without the envelope, keys in field order."""
    body = record.model_dump_json(exclude={"envelope"})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def event_id(source_system: str, record_id: str, version: int, digest: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join((source_system, record_id, str(version), digest))))


def correlation_id(key: IncidentKey) -> str:
    return str(uuid.uuid5(NAMESPACE, "incident\x1f" + key.dispatch_centre + "\x1f" + key.incident_number))


def version_of(times: list[datetime | None]) -> int:
    """The document-time version: the latest aware time as Unix seconds, else 1."""
    known = [t for t in times if t is not None]
    return max(1, int(max(known).timestamp())) if known else 1


def seal(draft: Record, *, source_system: str, record_id: str, version: int,
         occurred_at: datetime | None, key: IncidentKey, ctx: ParseContext) -> Record:
    """Give a draft record (built with a placeholder envelope) its real, deterministic envelope."""
    digest = content_digest(draft)
    envelope = Envelope(
        event_id=event_id(source_system, record_id, version, digest),
        source_system=source_system,
        source_record_id=record_id,
        source_record_version=version,
        occurred_at=occurred_at or ctx.received_at,
        ingested_at=ctx.received_at,
        correlation_id=correlation_id(key),
        programme_id=ctx.programme_id,
        sender=ctx.sender,
        content_digest=digest,
    )
    return draft.model_copy(update={"envelope": envelope})


def draft_envelope(record_id: str) -> Envelope:
    """A placeholder envelope for building a record before `seal` names it; never published."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return Envelope(event_id="draft", source_system="draft", source_record_id=record_id or "draft",
                    occurred_at=epoch, ingested_at=epoch, correlation_id="draft")


def invalid_fields(error: ValidationError) -> tuple[str, ...]:
    """The record fields a validation error names (never the offending values)."""
    return tuple(sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()}))


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 date-time with an offset ('Z' accepted); None when absent, naive or malformed."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def clean_text(value: Any, limit: int = 20_000) -> str:
    """A str from a loosely typed source value, stripped and bounded."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()[:limit]
