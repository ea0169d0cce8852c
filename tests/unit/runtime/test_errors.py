"""The error tree: each kind of failure the core meets is sorted transient or permanent."""
from __future__ import annotations

import asyncio
import errno

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError
from pydantic import ValidationError

from pipeline import records as r
from pipeline.avro import CodecError
from pipeline.errors import Permanent, Transient, classify, for_status
from pipeline.storage.errors import IntegrityError, MigrationError, StorageConflict, StorageUnavailable


def _validation_error() -> ValidationError:
    try:
        r.DeadLetterKey(topic="t", partition="not a number")
    except ValidationError as e:
        return e
    raise AssertionError("no validation error")


def _http_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/fhir")
    return httpx.HTTPStatusError("peer said no", request=request, response=httpx.Response(status, request=request))


@pytest.mark.parametrize("exc, dependency", [
    (StorageConflict("referral_state: database is locked"), "database"),
    (StorageUnavailable("cannot open handoff.db"), "database"),
    (KafkaConnectionError("no broker"), "broker"),
    (KafkaTimeoutError(), "broker"),
    (NotLeaderForPartitionError(), "broker"),
    (asyncio.TimeoutError(), "peer"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "peer"),
    (OSError(errno.EHOSTUNREACH, "no route to host"), "peer"),
    (httpx.ConnectTimeout("slow"), "peer"),
    (_http_error(429), "peer"),
    (_http_error(503), "peer"),
    (Transient("recipient busy", dependency="peer"), "peer"),
])
def test_transient_failures(exc, dependency):
    error = classify(exc)
    assert isinstance(error, Transient) and error.transient
    assert error.dependency == dependency


@pytest.mark.parametrize("exc", [
    CodecError("not an Avro single-object message"),
    _validation_error(),
    IntegrityError("unique violation on inbox_item", "inbox_item_pkey"),
    MigrationError("0003 was changed after it was applied"),
    MessageSizeTooLargeError(),
    _http_error(400),
    _http_error(404),
    FileNotFoundError(errno.ENOENT, "no such file"),
    ValueError("bad input"),
    RuntimeError("a bug"),
    Permanent("consent denied"),
])
def test_permanent_failures(exc):
    error = classify(exc)
    assert isinstance(error, Permanent) and not error.transient


def test_the_original_is_kept_and_named():
    original = StorageConflict("audit_record: database is locked")
    error = classify(original)
    assert error.cause is original and error.__cause__ is original
    assert error.cause_type == "StorageConflict" and str(error) == "audit_record: database is locked"
    assert classify(error) is error


def test_a_validation_error_reason_names_where_not_the_values():
    error = classify(_validation_error())
    assert "partition" in str(error) and "not a number" not in str(error)


@pytest.mark.parametrize("status, transient", [(408, True), (429, True), (500, True), (502, True),
                                               (400, False), (401, False), (409, False), (422, False)])
def test_for_status(status, transient):
    assert for_status(status, "POST Bundle").transient is transient
