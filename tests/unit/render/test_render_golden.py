"""Golden files: the same input renders byte for byte the same payload.

Regenerate after an intended change with HANDOFF_UPDATE_GOLDEN=1 and review the diff."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.vocab import Format
from tests.unit.render.golden_cases import CASES, EXTENSIONS
from tests.unit.render.support import valid_bundle, valid_ref

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    payload = CASES[name]()
    path = GOLDEN / f"{name}.{EXTENSIONS[payload.format]}"
    if os.environ.get("HANDOFF_UPDATE_GOLDEN"):
        path.write_bytes(payload.body)
    assert path.exists(), f"{path.name} missing: run with HANDOFF_UPDATE_GOLDEN=1"
    assert payload.body == path.read_bytes()
    if payload.format == Format.FHIR_R4:
        valid_bundle(payload.body)
    elif payload.format == Format.HL7V2:
        valid_ref(payload.body)
