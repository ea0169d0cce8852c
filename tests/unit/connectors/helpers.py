"""Helpers for the parser tests: a fixed context and the ../shared reference files."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.common import ParseContext, Parsed, Refused

SHARED = Path(__file__).resolve().parents[4] / "shared"
NEMSIS = SHARED / "nemsis" / "v3.5.1"
RECEIVED = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def make_ctx(**changes) -> ParseContext:
    values = dict(received_at=RECEIVED, sender="agency-test", programme_id="prog-1",
                  dispatch_centre_for=lambda agency: f"psap-{agency}")
    values.update(changes)
    return ParseContext(**values)


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared reference data is absent ({relative}); these tests read it")
    return path


def records(results) -> list:
    return [r.record for r in results if isinstance(r, Parsed)]


def refusals(results) -> list[Refused]:
    return [r for r in results if isinstance(r, Refused)]
