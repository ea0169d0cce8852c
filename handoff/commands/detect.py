"""`handoff evaluate` and `handoff classify FILE...`: detection without a broker.

classify prints one JSON object per record:
  {"source": FILE, "record_id": ..., "categories": [...], "evidence": [...], "rules_version": ...}
record_id is eRecord.01 for NEMSIS, internalIncidentId (else $id) for EIDO, the mapped incident-id
column for CAD exports, MSH-10 for HL7 v2. A refused input is reported on stderr by reason (never
its contents) and the command exits non-zero after printing every good record.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import typer

from connectors import parsers
from connectors.common import ParseContext, Parsed, ParseResult
from connectors.hl7v2 import read_header
from handoff.errors import EXIT_REFUSED
from pipeline.detect.engine import classify_incident, classify_run
from pipeline.detect.ruleset import Rules, load_rules
from pipeline.records import DispatchIncident, EmsRun
from pipeline.settings import Settings


def is_corpus(path: Path, head: bytes) -> bool:
    """Our labelled JSON lines (pipeline/detect/corpus), which classify reads besides source exports."""
    return path.suffix.lower() == ".jsonl" and b'"record_type"' in head.split(b"\n", 1)[0]


@dataclass(frozen=True)
class Source:
    """One file given to classify or refer: its kind ("corpus" for ours) and parse results, or why not."""

    path: Path
    data: bytes = b""
    kind: str = ""
    results: tuple[ParseResult, ...] = ()
    error: str = ""


def read_sources(paths: Iterable[str | Path], sender: str) -> Iterator[Source]:
    """Read every file and parse it by its kind (connectors/parsers.py); corpus files are not parsed."""
    ctx = None
    for p in paths:
        path = Path(p)
        try:
            data = path.read_bytes()
        except OSError as e:
            yield Source(path, error=f"cannot read file ({e.strerror})")
            continue
        if is_corpus(path, data[:4096]):
            yield Source(path, data, "corpus")
            continue
        kind = parsers.for_file(path, data[:4096])
        ctx = ctx or ParseContext.of(Settings(), sender, datetime.now(timezone.utc))
        yield Source(path, data, kind.name, tuple(kind.parse(data, ctx)))


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


def _parsed(source: Source, rules: Rules) -> Iterator[dict]:
    path = source.path
    hl7_id = getattr(read_header(source.data), "control_id", None) if source.kind == "hl7" else None
    for result in source.results:
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
    for source in read_sources(paths, "classify"):
        if source.error:
            yield {"source": str(source.path), "record_id": None, "error": source.error}
        elif source.kind == "corpus":
            yield from _corpus(source.path, rules)
        else:
            yield from _parsed(source, rules)


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
