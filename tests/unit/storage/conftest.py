"""Storage-only fixtures; the two-backend fixtures (url, store, migrated, pg_url) are in
tests/unit/conftest.py, shared with every unit test that needs a database."""
from __future__ import annotations

import socket

import pytest


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
