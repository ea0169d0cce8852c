"""The delivery connectors this build has, registered by endpoint kind (pipeline/deliver/registry.py)."""
from __future__ import annotations

from connectors.inbox import InboxConnector
from pipeline.deliver.registry import Registry


def registry() -> Registry:
    """Every connector Handoff can deliver through; an endpoint of another kind is a permanent failure."""
    found = Registry()
    found.register("inbox", lambda settings, store: InboxConnector(store))
    return found
