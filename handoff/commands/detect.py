"""`handoff evaluate` and `handoff classify FILE...`: detection without a broker.

classify prints one JSON object per record:
  {"source": FILE, "record_id": ..., "categories": [...], "evidence": [...], "rules_version": ...}
record_id is eRecord.01 for NEMSIS, internalIncidentId (else $id) for EIDO, the mapped incident-id
column for CAD exports, MSH-10 for HL7 v2. A refused input is reported on stderr by reason (never
its contents) and the command exits non-zero after printing every good record.
"""
from __future__ import annotations

import importlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import typer

from pipeline.detect.engine import classify_incident, classify_run
from pipeline.detect.ruleset import Rules, load_rules
from pipeline.records import DispatchIncident, EmsRun

EXIT_REFUSED = 2

# The seam: file kind -> parser. A parser takes (bytes, ParseContext) and returns a list of
# connectors.common Parsed | Refused; "module:function" entries are imported on first use so that
# classify needs neither a broker nor every connector's dependencies.
PARSERS: dict[str, str | Callable] = {
    "nemsis": "connectors.nemsis:parse_emsdataset",
    "eido": "connectors.cad:parse_eido",
    "cad": "connectors.cad:parse_cad_export",
    "hl7": "connectors.hl7v2:parse_hl7",
}


def _parser(kind: str) -> Callable:
    entry = PARSERS[kind]
    if callable(entry):
        return entry
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)


def file_kind(path: Path, head: bytes) -> str:
    """nemsis, eido, cad, hl7 or corpus (our labelled JSON lines), from the name and first bytes."""
    suffix = path.suffix.lower()
    start = head.lstrip()[:1]
    if suffix == ".xml" or start == b"<":
        return "nemsis"
    if suffix in (".hl7", ".er7") or head.lstrip().startswith(b"MSH"):
        return "hl7"
    if suffix == ".jsonl" and b'"record_type"' in head.split(b"\n", 1)[0]:
        return "corpus"
    if suffix == ".json" and start == b"{":
        return "eido"
    return "cad"


def _context():
    from connectors.common import ParseContext
    from pipeline.settings import Settings

    settings = Settings()
    return ParseContext(received_at=datetime.now(timezone.utc), sender="classify", programme_id=settings.programme_id,
                        dispatch_centre_for=settings.dispatch_centre_for)


def _row(source: str, record_id: str, detection) -> dict:
    return {"source": source, "record_id": record_id, "categories": [c.value for c in detection.categories],
            "evidence": [e.model_dump(mode="json", exclude_none=True) for e in detection.evidence],
            "rules_version": detection.rules_version}


def _classify(record, rules: Rules, dispatch: DispatchIncident | None = None):
    if isinstance(record, EmsRun):
        return classify_run(record, rules, dispatch)
    return classify_incident(record, rules)


def _corpus(path: Path, rules: Rules) -> Iterator[dict]:
    from connectors.cad.replay import incident_from_raw
    from pipeline.detect.evaluate import labelled

    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                item = labelled(json.loads(line), incident_from_raw)
            except (ValueError, KeyError, TypeError) as e:
                yield {"source": str(path), "record_id": None, "error": f"line {n}: not a corpus record ({type(e).__name__})"}
                continue
            record = item.record
            rid = record.pcr_number if isinstance(record, EmsRun) else record.envelope.source_record_id
            yield _row(str(path), rid, _classify(record, rules, item.dispatch))


def _parsed(path: Path, kind: str, data: bytes, rules: Rules, ctx) -> Iterator[dict]:
    from connectors.common import Parsed

    hl7_id = None
    if kind == "hl7":
        from connectors.hl7v2 import read_header
        header = read_header(data)
        hl7_id = getattr(header, "control_id", None)
    for result in _parser(kind)(data, ctx):
        if not isinstance(result, Parsed):
            yield {"source": str(path), "record_id": result.record_id, "error": result.reason}
            continue
        record = result.record
        if hl7_id:
            rid = hl7_id
        elif isinstance(record, EmsRun):
            rid = record.pcr_number
        else:
            rid = record.envelope.source_record_id
        yield _row(str(path), rid, _classify(record, rules))


def classify_files(paths: Iterable[str | Path], rules: Rules | None = None) -> Iterator[dict]:
    """Classify every record of every file; a refusal is a dict with `error` (a reason, no contents)."""
    rules = rules or load_rules()
    ctx = None
    for p in paths:
        path = Path(p)
        try:
            data = path.read_bytes()
        except OSError as e:
            yield {"source": str(path), "record_id": None, "error": f"cannot read file ({e.strerror})"}
            continue
        kind = file_kind(path, data[:4096])
        if kind == "corpus":
            yield from _corpus(path, rules)
            continue
        ctx = ctx or _context()
        yield from _parsed(path, kind, data, rules, ctx)


cli = typer.Typer(help="Detection: evaluate the rules on the labelled corpus; classify files.",
                  no_args_is_help=True, add_completion=False)


@cli.command("classify")
def classify_cmd(files: list[Path] = typer.Argument(..., help="NEMSIS XML, EIDO JSON, CAD CSV/JSONL, HL7 v2, corpus JSONL"),
                 rules: Path = typer.Option(None, help="ruleset file or directory (default: the shipped rules)")) -> None:
    """Print one JSON object per record; refusals go to stderr and make the exit code non-zero."""
    refused = 0
    for row in classify_files(files, load_rules(rules)):
        if "error" in row:
            refused += 1
            print(f"handoff classify: {row['source']}: record {row['record_id'] or '-'}: {row['error']}", file=sys.stderr)
        else:
            print(json.dumps(row, sort_keys=True))
    if refused:
        raise typer.Exit(EXIT_REFUSED)


@cli.command("evaluate")
def evaluate_cmd(data: Path = typer.Option(None, help="directory with corpus.jsonl and heldout.jsonl"),
                 rules: Path = typer.Option(None, help="ruleset file or directory (default: the shipped rules)"),
                 part: list[str] = typer.Option(None, help="tuning and/or held-out (default both)"),
                 cases: int = typer.Option(10, help="confusion cases to list per part")) -> None:
    """Precision, recall and F1 per category and per source (ePCR, EIDO, CAD export) for the rules and the
    baselines (codes-only NEMSIS definitions, naive keywords)."""
    from connectors.cad.replay import incident_from_raw
    from pipeline.detect.evaluate import DATA_DIR, PARTS, evaluate_parts

    lines, _ = evaluate_parts(load_rules(rules), data or DATA_DIR, part or list(PARTS), cases, incident_from_raw)
    print("\n".join(lines))
