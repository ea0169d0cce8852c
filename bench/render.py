"""Rendering throughput per core (one process): referrals rendered per second for each format.

`.venv/bin/python -m bench.render` prints one row per format; `run()` returns them for
`make bench`. The input is the tests' synthetic EMS referral (full variant, Part 2 labels), so
each render carries ~15 resources / ~20 segments. The two reference rows show why production
builds plain data: the same Bundle through the fhir.resources R4B models, and the same REF
message through hl7apy (parse and serialise, its cheapest way to build it from values).
"""
from __future__ import annotations

import time
from typing import Callable

from pipeline.render import default_redaction, render
from pipeline.vocab import Basis, Format
from tests.unit.render import cases as c


def _measure(name: str, fn: Callable[[], object], min_seconds: float = 1.0) -> dict:
    n = 0
    started = time.process_time()  # CPU time of this process: one core
    while time.process_time() - started < min_seconds:
        fn()
        n += 1
    elapsed = time.process_time() - started
    return {"name": name, "records_per_s": round(n / elapsed, 1), "us_per_record": round(elapsed / n * 1e6, 1)}


def run(min_seconds: float = 1.0) -> list[dict]:
    request, sources, redaction = c.ems_request(), [c.ems_run(), c.incident()], default_redaction()

    def one(kind: str, fmt: Format) -> Callable[[], bytes]:
        recipient = c.provider(kind)
        decision = c.decision(request, recipient, basis=Basis.PART2_CONSENT, part2=True)
        return lambda: render(request, sources, decision, recipient, redaction=redaction, format=fmt).body

    rows = [_measure("render fhir", one("fhir-rest", Format.FHIR_R4), min_seconds),
            _measure("render hl7v2 REF^I12", one("hl7v2-mllp", Format.HL7V2), min_seconds),
            _measure("render direct (MIME + Bundle)", one("direct", Format.DIRECT), min_seconds)]
    try:
        import json

        from fhir.resources.R4B.bundle import Bundle

        fhir = one("fhir-rest", Format.FHIR_R4)
        rows.append(_measure("render fhir via fhir.resources models (reference)",
                             lambda: Bundle.model_validate(json.loads(fhir())).model_dump_json(
                                 by_alias=True, exclude_none=True), min_seconds))
    except ImportError:
        pass
    try:
        from hl7apy.parser import parse_message

        ref = one("hl7v2-mllp", Format.HL7V2)
        rows.append(_measure("render REF via hl7apy (reference)",
                             lambda: parse_message(ref().decode(), find_groups=True).to_er7(), min_seconds))
    except ImportError:
        pass
    return rows


if __name__ == "__main__":
    for row in run():
        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
