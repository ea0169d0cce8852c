"""Parser throughput per core (one process): records per second for each inbound parser.

`.venv/bin/python -m bench.parsers` prints one row per parser; `run()` returns them for
`make bench`. NEMSIS rows read the compliance cases in ../shared (skipped when absent);
EIDO, CAD CSV and HL7 inputs are generated with a fixed seed. The hl7apy row is the
reference the strict splitter replaced (pipeline/hl7v2.py).
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from connectors.cad import parse_cad_export, parse_eido
from connectors.common import ParseContext, Parsed
from connectors.hl7v2 import parse_hl7
from connectors.nemsis import parse_emsdataset
from tests.unit.connectors import cad_gen, hl7_gen
from tests.unit.connectors.test_eido import overdose_doc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "nemsis" / "v3.5.1"
CTX = ParseContext(received_at=datetime(2025, 3, 1, tzinfo=timezone.utc), sender="bench", programme_id="bench",
                   dispatch_centre_for=lambda agency: f"psap-{agency}")


def _measure(name: str, inputs: list[bytes], parse: Callable[[bytes], list], min_seconds: float = 1.0) -> dict:
    records = documents = 0
    started = time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        for data in inputs:
            records += sum(1 for r in parse(data) if isinstance(r, Parsed))
            documents += 1
    elapsed = time.perf_counter() - started
    return {"name": name, "records_per_s": round(records / elapsed, 1),
            "documents_per_s": round(documents / elapsed, 1), "us_per_document": round(elapsed / documents * 1e6, 1)}


def _hl7apy(inputs: list[bytes]) -> dict | None:
    try:
        from hl7apy.parser import parse_message
    except ImportError:
        return None
    texts = [m.decode() for m in inputs[:5]]
    return _measure("parse hl7v2 (hl7apy, reference)", [t.encode() for t in texts],
                    lambda d: [Parsed(parse_message(d.decode(), find_groups=False))], min_seconds=0.5)


def run() -> list[dict]:
    rows = []
    full = sorted((SHARED / "compliance" / "full").glob("*.xml")) if SHARED.exists() else []
    if full:
        docs = [p.read_bytes() for p in full]
        rows.append(_measure("parse nemsis", docs, lambda d: parse_emsdataset(d, CTX)))
        xsd = SHARED / "xsd" / "EMSDataSet_v3.xsd"
        with_xsd = ParseContext(**{**CTX.__dict__, "xsd_path": xsd})
        rows.append(_measure("parse nemsis + xsd", docs, lambda d: parse_emsdataset(d, with_xsd)))
    eido = [json.dumps(overdose_doc()).encode()]
    rows.append(_measure("parse eido", eido, lambda d: parse_eido(d, CTX)))
    rows.append(_measure("parse cad csv (1000 rows/doc)", [cad_gen.to_csv(cad_gen.rows(1000))],
                         lambda d: parse_cad_export(d, CTX)))
    messages = [hl7_gen.oru(seed) for seed in range(50)]
    rows.append(_measure("parse hl7v2 (15-segment ORU)", messages, lambda d: parse_hl7(d, CTX)))
    reference = _hl7apy(messages)
    if reference:
        rows.append(reference)
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
