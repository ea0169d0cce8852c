"""The ICD-10-CM table: loaded from the package once, cached as JSON for the next start, the same
answers either way, and a damaged cache is rebuilt (pipeline/render/codes.py)."""
from __future__ import annotations

import pytest

from pipeline.render import codes


@pytest.fixture
def unloaded():
    """The module's table dropped for the test, and put back after (others keep the loaded one)."""
    kept = codes._icd
    codes._icd = None
    yield
    codes._icd = kept


def test_the_table_is_cached_for_the_next_start_and_answers_the_same(unloaded, tmp_path):
    count, source = codes.load_icd10cm(tmp_path)
    assert source == "package" and count > 90_000
    [cache] = tmp_path.glob("icd10cm-*.json")
    answers = [codes.icd10cm(code) for code in ("F32.9", "F329", "T40.1X1A", "A00-A09", "F32.", "nope", "")]
    assert answers[0] == answers[1] == "Major depressive disorder, single episode, unspecified"
    assert answers[2].startswith("Poisoning by heroin, accidental") and answers[3].startswith("Intestinal")
    assert answers[4:] == ["", "", ""]
    assert codes.load_icd10cm(tmp_path) == (count, "memory")

    codes._icd = None  # the next start
    assert codes.load_icd10cm(tmp_path) == (count, "cache")
    assert [codes.icd10cm(code) for code in ("F32.9", "F329", "T40.1X1A", "A00-A09", "F32.", "nope", "")] == answers

    codes._icd = None  # a cache cut short (a crash while writing it by hand) is rebuilt from the package
    cache.write_text(cache.read_text()[:1000])
    assert codes.load_icd10cm(tmp_path) == (count, "package")
    codes._icd = None
    assert codes.load_icd10cm(tmp_path) == (count, "cache")
