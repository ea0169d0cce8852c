"""JSON log lines: the context's fields, `bind` within a block only, dates and e-mails masked."""
from __future__ import annotations

import json
import logging

import pytest

from pipeline.logs import JsonFormatter, bind, log_context


def line(message: str, *args) -> dict:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    return json.loads(JsonFormatter().format(record))


def test_bind_adds_to_the_innermost_block_until_it_ends():
    bind(event_id="outside")  # no block: nothing to add to
    assert "event_id" not in line("x")
    with log_context(stage="detect", offset=7):
        bind(event_id="ems:1", trace_id="t1")
        with log_context(partition=1):
            bind(event_id="ems:2")
            assert line("x")["event_id"] == "ems:2" and line("x")["partition"] == 1
        assert line("x") | {"ts": 0} == {"ts": 0, "level": "INFO", "logger": "t", "message": "x", "stage": "detect",
                                          "offset": 7, "event_id": "ems:1", "trace_id": "t1"}
    assert "event_id" not in line("x") and "stage" not in line("x")
    with pytest.raises(ValueError, match="not a log field: name"):
        with log_context(stage="x"):
            bind(name="Rivera")


def test_dates_and_email_addresses_are_masked():
    text = line("born %s / %s / %s, mail %s", "1990-05-01", "19900501", "5/1/1990", "a.b@example.org")["message"]
    assert text == "born [date] / [date] / [date], mail [email]"
