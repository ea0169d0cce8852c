"""The parser tests' fixture: a fixed parse context."""
from __future__ import annotations

import pytest

from connectors.common import ParseContext
from tests.unit.connectors.helpers import make_ctx


@pytest.fixture
def ctx() -> ParseContext:
    return make_ctx()
