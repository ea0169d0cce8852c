"""CI is deterministic: the hypothesis profile loaded by default is derandomised and keeps no database."""
from __future__ import annotations

import os

import pytest
from hypothesis import settings


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for")
def test_the_ci_profile_is_derandomised_without_a_database():
    assert settings.default.derandomize is True and settings.default.database is None
    assert settings.get_profile("long").derandomize is False and settings.get_profile("long").max_examples == 2000
