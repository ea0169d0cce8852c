"""Dead letters you can work: find them, read them without person data, put them back.

A dead letter (records.DeadLetter on a `.dlq` topic) holds the original key, value and
headers of a message a stage could not process, where it came from and why. `find` reads
every dead-letter topic (filters: since, reason, id); `summary` decodes the original value
just enough to say what it was (record type, ids, person token) — never names, addresses
or payloads; `replay` writes a `replay` audit record first, then re-produces the original
bytes to the original topic and partition key, with the header `handoff-replay-of`.
Downstream ids are deterministic, so a replay of something that did get through changes
nothing; a replay that fails again becomes a new dead letter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

from pipeline import records as r
from pipeline.audit.emit import os_user, replay_audit
from pipeline.topics import Catalogue

REPLAY_HEADER = "handoff-replay-of"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Letter:
    dlq: str  # catalogue name of the dead-letter topic
    offset: int  # on the dead-letter topic
    letter: r.DeadLetter

    @property
    def id(self) -> str:
        return self.letter.dead_letter_id


def since(text: str, now: datetime) -> datetime:
    """`--since`: a duration back from now (90s, 30m, 2h, 7d) or an ISO-8601 time with its zone."""
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: use a duration (30m, 2h, 7d) or an ISO time (2026-03-14T02:00Z)") \
            from None
    if at.tzinfo is None:
        raise ValueError(f"--since {text!r}: give the time zone (Z or +hh:mm)")
    return at


async def find(bootstrap: str, catalogue: Catalogue, after: datetime | None = None, reason: str = "",
               ids: Sequence[str] = ()) -> list[Letter]:
    """The dead letters on every `.dlq` topic, oldest first; `reason` matches case-insensitively
    in the reason or error type; `ids` match a whole id or its start."""
    from pipeline.kafka.read import read_topic

    found = []
    for topic in catalogue:
        if not topic.name.endswith(".dlq"):
            continue
        for message in await read_topic(bootstrap, topic.full_name):
            letter = topic.value.decode(message.value)
            if after is not None and letter.failed_at < after:
                continue
            if reason and reason.lower() not in f"{letter.error_type} {letter.reason}".lower():
                continue
            if ids and not any(letter.dead_letter_id.startswith(i) for i in ids):
                continue
            found.append(Letter(topic.name, message.offset, letter))
    return sorted(found, key=lambda x: (x.letter.failed_at, x.dlq, x.offset))


def summary(catalogue: Catalogue, letter: r.DeadLetter) -> str:
    """What the original message was, masked: record type, its ids and the person token's start."""
    try:
        topic = catalogue.by_full_name(letter.topic)
    except KeyError:
        return f"{len(letter.value or b'')} bytes for {letter.topic} (not in the catalogue)"
    try:
        value = topic.value.decode(letter.value)
    except Exception:  # noqa: BLE001 - a dead letter is often exactly the bytes that do not decode
        return f"{len(letter.value or b'')} bytes that do not decode as {topic.value.model.__name__}"
    parts = [type(value).__name__]
    envelope = getattr(value, "envelope", None)
    if envelope is not None:
        parts.append(f"{envelope.source_system}:{envelope.source_record_id} v{envelope.source_record_version}")
    for attr in ("referral_id", "recipient_id", "delivery_id", "request_id", "audit_id", "pcr_number"):
        if getattr(value, attr, None):
            parts.append(f"{attr}={getattr(value, attr)}")
    person = getattr(value, "person", None)
    if isinstance(person, r.PersonKey):
        parts.append(f"person={person.person_token[:6]}…")
    elif person is not None or getattr(value, "patient", None) is not None:
        parts.append("person=(masked)")
    return " ".join(parts)


def age(letter: r.DeadLetter, now: datetime) -> str:
    seconds = max(0, int((now - letter.failed_at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def replay(writer, letters: Sequence[Letter], now: datetime, user: str, why: str,
                 advance: Callable[[int], None] = lambda n: None) -> list[r.AuditEvent]:
    """Audit first (one `replay` record per original topic), then each original message again
    (`advance(1)` after each: a progress bar)."""
    by_topic: dict[str, list[Letter]] = {}
    for item in letters:
        by_topic.setdefault(item.letter.topic, []).append(item)
    audits = [replay_audit(user, now, topic, [x.id for x in items], why, os_login=os_user())
              for topic, items in by_topic.items()]
    await writer.write(audits, [], [])
    for item in letters:
        letter = item.letter
        headers = [(k, v) for k, v in letter.headers.items() if k != REPLAY_HEADER]
        headers.append((REPLAY_HEADER, letter.dead_letter_id.encode()))
        await writer.send(letter.topic, letter.key, letter.value, headers)
        advance(1)
    return audits
