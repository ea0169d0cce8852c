"""Structured logs: one JSON object per line, with the message's place in the stream and never person data.

    configure("json")                          # handoff/cli.py, from settings.log.format (HANDOFF_LOG__FORMAT)
    with log_context(stage="detect", topic=t, partition=p, offset=o, trace_id=tid):
        log.warning("...")                     # {"ts":..., "level":"WARNING", "stage":"detect", "topic":..., ...}

Fields: ts, level, logger, message, and from the context (or `extra=`) stage, topic, partition,
offset, event_id, trace_id. Log calls name records by their place (topic, partition, offset) and
their ids, never by their content; as a second line of defence the formatter masks anything shaped
like a date (a date of birth) or an e-mail address in the message and in exception text.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Iterator

FIELDS = ("stage", "topic", "partition", "offset", "event_id", "trace_id")
_EMPTY: dict = {}
_CONTEXT: ContextVar[dict] = ContextVar("handoff_log_context", default=_EMPTY)
_MASKS = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "[date]"),
    (re.compile(r"\b\d{8}\b"), "[date]"),                               # HL7 v2 / NEMSIS compact dates
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "[date]"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "[email]"),
]


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` (of FIELDS) to every log line written inside the block, in this task or thread."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log field: {', '.join(sorted(unknown))}")
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**fields: object) -> None:
    """Add `fields` to the innermost `log_context` block until it ends (e.g. the event id, once the
    message is decoded); outside any block it does nothing."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log field: {', '.join(sorted(unknown))}")
    current = _CONTEXT.get()
    if current is not _EMPTY:  # each block has a dict of its own: the update ends with the block
        current.update({k: v for k, v in fields.items() if v not in (None, "")})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": mask(record.getMessage())}
        line.update(_CONTEXT.get())
        line.update({k: getattr(record, k) for k in FIELDS if getattr(record, k, None) not in (None, "")})
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {mask(str(error))}"[:500]
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(fmt: str = "text", level: int = logging.WARNING) -> None:
    """Log to stderr as JSON lines (`json`) or as `handoff: LEVEL: message` (`text`, for a person at a terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("handoff: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
