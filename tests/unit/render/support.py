"""Checks every render test applies: fhir.resources R4B as the schema authority, the project's
profile checks, and hl7apy's 2.5.1 structure for REF messages."""
from __future__ import annotations

import json

from pipeline.render import default_redaction
from pipeline.render.profile import leaks, problems
from pipeline.vocab import Variant
from tests.unit.render.hl7_tables import ref_problems, table_problems


def valid_bundle(body: bytes, variant: Variant | None = None) -> dict:
    """Parse, validate with the R4B models (the round trip must be lossless: our dicts are exactly
    the models' JSON), run the profile checks and, for a variant, the redaction check."""
    from fhir.resources.R4B.bundle import Bundle

    data = json.loads(body)
    model = Bundle.model_validate(data)
    again = json.loads(model.model_dump_json(by_alias=True, exclude_none=True))
    assert again == data, _first_difference(again, data)
    found = problems(data)
    assert found == [], found
    if variant is not None:
        leaked = leaks(data, default_redaction().variant_content[variant])
        assert leaked == [], leaked
    return data


def valid_ref(body: bytes):
    """Parse a REF message with hl7apy, strictly, against the 2.5.1 REF_I12 structure."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    message = parse_message(body.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate() is True
    found = table_problems(body) + ref_problems(body)
    assert found == [], found
    return message


def resources(bundle: dict, kind: str | None = None) -> list[dict]:
    """The message's resources and those of its referral document, each once."""
    found: dict[str, dict] = {}
    for e in bundle["entry"]:
        nested = e["resource"]["entry"] if e["resource"]["resourceType"] == "Bundle" else []
        for entry in [e, *nested]:
            found.setdefault(entry["fullUrl"], entry["resource"])
    return [res for res in found.values() if kind is None or res["resourceType"] == kind]


def one(bundle: dict, kind: str) -> dict:
    found = resources(bundle, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def _first_difference(a, b, path: str = "$") -> str:
    """Where the models' JSON and ours first differ (the round trip must be lossless)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{n}]")
    return f"{path}: models {str(a)[:200]!r} != rendered {str(b)[:200]!r}"
