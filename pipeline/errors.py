"""The one error tree: connectors and stages raise these; the stage wrapper retries a
`Transient` (retry topics) and dead-letters a `Permanent`."""
from __future__ import annotations


class HandoffError(Exception):
    """Base of Handoff's own errors."""


class Transient(HandoffError):
    """Worth trying again later (a peer away, a timeout, 429/5xx). `retry_after`: seconds the peer asked for."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(HandoffError):
    """A resend will not help (a 4xx, an AE/AR, a refused certificate): dead-letter with the reason."""
