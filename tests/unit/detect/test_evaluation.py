"""Measured on the held-out part (separate templates and codes): the targets of issue 7."""
from __future__ import annotations

import pytest

from connectors.cad.replay import incident_from_raw
from pipeline.detect import load_rules
from pipeline.detect.evaluate import evaluate_parts
from pipeline.vocab import Category

LIFT = (Category.OVERDOSE, Category.OPIOID_OVERDOSE, Category.SUICIDE_RISK)


@pytest.fixture(scope="module")
def heldout():
    _, scores = evaluate_parts(load_rules(), parts=["held-out"], decode=incident_from_raw)
    return scores["held-out"]["all"]


@pytest.mark.parametrize("category", list(Category))
def test_heldout_precision_and_recall(heldout, category):
    rules = heldout["rules"]
    precision, recall, _ = rules.prf(category)
    assert precision >= 0.90 and recall >= 0.90, (category, precision, recall)


@pytest.mark.parametrize("category", LIFT)
def test_heldout_recall_beats_codes_only_baseline(heldout, category):
    rules, baseline = heldout["rules"], heldout["codes-only"]
    assert rules.prf(category)[1] >= baseline.prf(category)[1] + 0.10
