"""Handoff's one error tree: every failure is either worth retrying or not.

    HandoffError                 base; `transient` says whether the same call may succeed later
    ├── Transient                retry: with backoff in place, through the retry topics, or later by hand
    │     dependency = "broker"     the Kafka broker is away or slow (a retriable KafkaError, a timeout)
    │     dependency = "database"   the database is busy (lock, serialization) or away (StorageError.transient)
    │     dependency = "peer"       a recipient or directory timed out, refused, or answered 429 / 5xx
    └── Permanent                dead-letter at once (retryable=false): the same input fails the same way
          bad input (CodecError, pydantic ValidationError), schema, policy, a 4xx from a peer,
          an output to a topic its stage did not declare, a bug (any exception not named here)

Connectors raise `Transient` / `Permanent` (or `for_status(...)` for an HTTP-like answer);
the core raises what its libraries raise and `classify` sorts it. The stage wrapper
(pipeline/stage.py) retries a transient error in place with backoff while the offset
stays uncommitted: without limit while its dependency (broker, database) is away, which
it reports as not ready; a record that keeps failing while the dependency answers is
dead-lettered with retryable=true after `runtime.retry_attempts` tries. A permanent error
is dead-lettered at once with retryable=false.

Messages name the kind of failure and where, never the payload (it may be person data).
"""
from __future__ import annotations

import asyncio
import errno
from typing import Literal

Dependency = Literal["broker", "database", "peer", ""]

# Outages: every record needs these, so a failure is the dependency's, not the record's.
SHARED_DEPENDENCIES: tuple[str, ...] = ("broker", "database")


class HandoffError(Exception):
    """Base of the tree. `cause_type` is the original exception's class name (for dead letters)."""

    transient = False

    def __init__(self, message: str, *, dependency: Dependency = "", cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.dependency = dependency
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause

    @property
    def cause_type(self) -> str:
        return type(self.cause).__name__ if self.cause is not None else type(self).__name__


class Transient(HandoffError):
    """Trying again later may succeed: a broker, database or peer that is away, busy or slow."""

    transient = True


class Permanent(HandoffError):
    """Trying again gives the same answer: bad input, schema, policy, a 4xx, a bug."""


class UndeclaredOutput(Permanent):
    """A stage produced to a topic its declaration in pipeline/app.py does not name."""


def for_status(status: int, message: str) -> HandoffError:
    """An HTTP-like answer from a peer: 408, 425, 429 and 5xx are transient; other 4xx permanent."""
    if status in (408, 425, 429) or status >= 500:
        return Transient(f"{message}: {status}", dependency="peer")
    return Permanent(f"{message}: {status}", dependency="peer")


def classify(exc: BaseException) -> HandoffError:
    """The error as a `Transient` or `Permanent` (the same object when it already is one)."""
    if isinstance(exc, HandoffError):
        return exc
    text = _text(exc)
    transient = _transient_dependency(exc)
    if transient is not None:
        return Transient(text, dependency=transient, cause=exc)
    return Permanent(text, dependency=_permanent_dependency(exc), cause=exc)


def _transient_dependency(exc: BaseException) -> Dependency | None:
    """The dependency that is away when `exc` is transient; None when it is permanent."""
    from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    from pipeline.storage.errors import StorageError

    if isinstance(exc, StorageError):
        return "database" if exc.transient else None
    if isinstance(exc, KafkaError):
        retriable = exc.retriable or isinstance(exc, (KafkaTimeoutError, KafkaConnectionError))
        return "broker" if retriable else None
    status = _http_status(exc)
    if status is not None:
        return "peer" if for_status(status, "").transient else None
    if _is_httpx_transport_error(exc):
        return "peer"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return "peer"
    if isinstance(exc, OSError):  # a file that is not there or not ours will not appear by waiting
        permanent = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EINVAL)
        return None if exc.errno in permanent else "peer"
    return None


def _permanent_dependency(exc: BaseException) -> Dependency:
    from aiokafka.errors import KafkaError

    from pipeline.storage.errors import StorageError

    if isinstance(exc, StorageError):
        return "database"
    if isinstance(exc, KafkaError):
        return "broker"
    return "peer" if _http_status(exc) is not None else ""


def _http_status(exc: BaseException) -> int | None:
    """The status of an HTTP error answer (httpx.HTTPStatusError and alike), duck-typed."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def _is_httpx_transport_error(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        return False
    return isinstance(exc, httpx.TransportError)


def _text(exc: BaseException) -> str:
    """One line: the class and the first line of the message (never a payload dump)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # its str() quotes the input values: keep only where and what
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{exc.title}: {exc.error_count()} error(s); first at {where or '-'}: {first.get('msg', '')}"
    line = str(exc).splitlines()[0] if str(exc) else ""
    return line or type(exc).__name__
