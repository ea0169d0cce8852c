"""Read a CAD incident kept raw (an EIDO document, or a CAD export with its site's mapping) into a
`DispatchIncident` with the production parsers: the labelled corpus stores its CAD incidents this way.

A fixed parse context (no clock, no settings): the dispatch centre is the issuer for EIDO and the
mapping's own centre for exports, so the same raw input always reads the same.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from connectors.cad.eido import parse_eido
from connectors.cad.export import parse_cad_export
from connectors.cad.mapping import mapping_from
from connectors.common import ParseContext, Parsed
from pipeline.records import DispatchIncident

_CTX = ParseContext(received_at=datetime(2025, 1, 1, tzinfo=timezone.utc), sender="replay", programme_id="replay",
                    dispatch_centre_for=lambda issuer: issuer)


def incident_from_raw(source: str, raw: dict | str, mapping: dict | None = None) -> DispatchIncident:
    """`source` is `eido` (raw: the document) or `cad_export` (raw: the CSV text, mapping: its columns)."""
    if source == "eido":
        results = parse_eido(json.dumps(raw).encode("utf-8"), _CTX)
    elif source == "cad_export":
        results = parse_cad_export(str(raw).encode("utf-8"), _CTX, mapping_from(mapping or {}))
    else:
        raise ValueError(f"unknown raw CAD source {source!r}")
    records = [r.record for r in results if isinstance(r, Parsed)]
    if len(records) != 1 or not isinstance(records[0], DispatchIncident):
        reasons = "; ".join(getattr(r, "reason", "") for r in results if not isinstance(r, Parsed))
        raise ValueError(f"raw {source} input does not read as one incident: {reasons or 'no incident'}")
    return records[0]
