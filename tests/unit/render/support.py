"""Checks every render test applies: fhir.resources R4B as the schema authority, the project's
profile checks, and hl7apy's 2.5.1 structure for REF messages."""
from __future__ import annotations

import json

from pipeline.render import default_redaction
from pipeline.render.profile import leaks, problems
from pipeline.vocab import Variant


def valid_bundle(body: bytes, variant: Variant | None = None) -> dict:
    """Parse, validate with the R4B models (the round trip must be lossless: our dicts are exactly
    the models' JSON), run the profile checks and, for a variant, the redaction check."""
    from fhir.resources.R4B.bundle import Bundle

    data = json.loads(body)
    model = Bundle.model_validate(data)
    assert json.loads(model.model_dump_json(by_alias=True, exclude_none=True)) == data
    assert problems(data) == []
    if variant is not None:
        assert leaks(data, default_redaction().variant_content[variant]) == []
    return data


def valid_ref(body: bytes):
    """Parse a REF message with hl7apy, strictly, against the 2.5.1 REF_I12 structure."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    message = parse_message(body.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate() is True
    return message


def resources(bundle: dict, kind: str | None = None) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def one(bundle: dict, kind: str) -> dict:
    found = resources(bundle, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]
