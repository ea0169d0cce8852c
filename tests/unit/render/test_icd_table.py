"""The worker's ICD-10-CM table says what `simple-icd-10-cm` says, without the worker importing it."""
from __future__ import annotations

import warnings

from pipeline.render import codes


def test_the_table_answers_as_the_package_does_for_codes_with_and_without_dots_and_for_non_codes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd
    every = icd.get_all_codes(True)
    sample = every[::97] + [c.replace(".", "") for c in every[5::389]] + ["F32.9", "F329", "F32", "X", "F32.99Q", ""]
    for code in sample:
        expected = " ".join(icd.get_description(code).split()) if icd.is_valid_item(code) else ""
        assert codes.icd10cm(code) == expected, code
    assert len(codes.icd_table()) > 90_000 and codes.icd10cm("F32.9").startswith("Major depressive disorder")
