"""CAD CSV and JSON-lines exports → one `DispatchIncident` version per row.

- Columns are named by an `ExportMapping` (connectors/cad/default_mapping.yaml by default).
  CSV may carry a BOM and quoted newlines; JSON lines are one object per line (detected
  when the first character is `{`).
- Record id and incident number: the CAD incident id. Dispatch centre: the mapping's
  `dispatch_centre`, else `ctx.dispatch_centre_for(<mapping name>)`. Source system
  `cad-csv:<mapping name>` for both formats, so the same row exported either way is the
  same event.
- Determinant: the determinant column; when it is empty and the mapping's `call_type_determinants`
  is `shape` (the default), a call type (final, else initial) shaped like an MPDS determinant
  (23-C-1, 25D01): many CADs export the determinant there. The call type keeps the CAD's text.
- Version: `updated_at` if the export has it, else the latest time of the row (Unix
  seconds). The same incident appears in many rows (created, dispatched, closed): each is a
  version; an exact repeat has the same event id (connectors/common.py).
- Times need a UTC offset, or the mapping's `timezone` for local times; otherwise the row is
  refused rather than guessed.
- Cells are kept as the text the CAD wrote. A cell that looks like a spreadsheet formula
  (leading =, +, -, @) stays exactly that text here; anything that ever writes these
  records back to CSV must escape such cells (prefix a quote) before a spreadsheet opens it.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from typing import Any, Iterator

from pydantic import ValidationError

from connectors.cad.mapping import ExportMapping, default_mapping, looks_like_determinant
from connectors.common import (
    ParseContext, ParseResult, Parsed, Refused, draft_envelope, invalid_fields, parse_time, seal,
    version_of,
)
from pipeline.records import Address, DispatchIncident, IncidentKey

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
TIME_FIELDS = ("updated_at", "received_at", "dispatched_at", "on_scene_at", "cleared_at")
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S",
                  "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p")
_PRIORITY = re.compile(r"[Pp]?(\d{1,2})")
Row = dict[str, str]


class _RowError(ValueError):
    pass


def parse_cad_export(data: bytes, ctx: ParseContext, mapping: ExportMapping | None = None, *,
                     max_bytes: int = DEFAULT_MAX_BYTES) -> list[ParseResult]:
    mapping = mapping or default_mapping()
    if len(data) > max_bytes:
        return [Refused(None, f"CAD export is {len(data)} bytes, over the {max_bytes}-byte limit")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [Refused(None, f"CAD export is not UTF-8 (byte {error.start})")]
    if not text.strip():
        return [Refused(None, "CAD export is empty")]
    rows = _jsonl(text, mapping) if text.lstrip().startswith("{") else _csv(text, mapping)
    centre = mapping.dispatch_centre or ctx.dispatch_centre_for(mapping.name)
    results: list[ParseResult] = []
    for where, row in rows:
        if isinstance(row, Refused):
            results.append(row)
        elif any(v.strip() for v in row.values()):
            results.append(_incident(row, where, centre, mapping, ctx))
    return results or [Refused(None, "CAD export has no rows")]


def _csv(text: str, mapping: ExportMapping) -> Iterator[tuple[str, Row | Refused]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # an unterminated quote is an error, not one cell to the end
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        yield "header", Refused(None, "CAD export has no readable header row")
        return
    fields = [mapping.field_for(h) for h in header]
    if "incident_id" not in fields:
        yield "header", Refused(None, "CAD export has no incident id column",
                                tuple(f"looked for: {h}" for h in mapping.headers("incident_id")))
        return
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield "end", Refused(None, f"CAD export is malformed CSV at line {reader.line_num}; later rows not read")
            return
        if not cells:
            continue  # a blank line
        number += 1
        if len(cells) != len(fields):  # a stray comma or a cut row: every later column would be misread
            yield "ragged", Refused(None, f"row {number} (line {reader.line_num}) has {len(cells)} cells, the header "
                                          f"{len(fields)}; not read")
            continue
        row: Row = {}
        for field, cell in zip(fields, cells):
            if field is not None and field not in row:  # the first column of a field wins
                row[field] = cell
        yield f"row {number} (line {reader.line_num})", row


def _jsonl(text: str, mapping: ExportMapping) -> Iterator[tuple[str, Row | Refused]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            yield f"line {number}", Refused(None, f"line {number} is not a JSON object")
            continue
        row: Row = {}
        for key, value in obj.items():
            field = mapping.field_for(str(key))
            if field is not None and field not in row:
                row[field] = _cell(value, mapping.list_separator)
        yield f"line {number}", row


def _cell(value: Any, separator: str) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list):
        return separator.join(_cell(v, separator) for v in value)
    return str(value)


def _incident(row: Row, where: str, centre: str, mapping: ExportMapping, ctx: ParseContext) -> ParseResult:
    record_id = row.get("incident_id", "").strip()
    if not record_id:
        return Refused(None, f"{where}: no incident id")
    key = IncidentKey(dispatch_centre=centre, incident_number=record_id)
    try:
        times = {name: _time(row.get(name, ""), name, mapping) for name in TIME_FIELDS}
        draft = DispatchIncident(
            envelope=draft_envelope(record_id), key=key,
            call_type=row.get("call_type", "").strip(), call_type_internal=row.get("call_type_internal", "").strip(),
            call_type_text=row.get("call_type_text", "").strip(),
            mpds_determinant=_determinant(row, mapping), priority=_priority(row.get("priority", "")),
            status=_split(row.get("status", ""), mapping), dispositions=_split(row.get("disposition", ""), mapping),
            received_at=times["received_at"], dispatched_at=times["dispatched_at"],
            on_scene_at=times["on_scene_at"], cleared_at=times["cleared_at"],
            location=_location(row), units=_split(row.get("units", ""), mapping),
            narrative=row.get("narrative", "")[:20_000],
        )
    except _RowError as error:
        return Refused(record_id, f"{where}: {error}")
    except ValidationError as error:
        return Refused(record_id, f"{where}: does not fit the dispatch-incident record", invalid_fields(error))
    return Parsed(seal(draft, source_system=f"cad-csv:{mapping.name}", record_id=record_id,
                       version=version_of([times["updated_at"]] if times["updated_at"] else list(times.values())),
                       occurred_at=draft.received_at, key=key, ctx=ctx))


def _determinant(row: Row, mapping: ExportMapping) -> str:
    """The determinant column, else (mapping switch `shape`) a call type that has a determinant's shape."""
    explicit = row.get("mpds_determinant", "").strip()
    if explicit or mapping.call_type_determinants == "never":
        return explicit
    for name in ("call_type", "call_type_internal"):
        if looks_like_determinant(row.get(name, "")):
            return row[name].strip()
    return ""


def _time(value: str, name: str, mapping: ExportMapping) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    aware = parse_time(value)
    if aware is not None:
        return aware
    for fmt in _LOCAL_FORMATS:
        try:
            naive = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if mapping.timezone is None:
            raise _RowError(f"{name} has no UTC offset and the mapping names no time zone")
        return naive.replace(tzinfo=mapping.timezone)
    raise _RowError(f"{name} is not a date-time this mapping reads")


def _priority(value: str) -> int | None:
    match = _PRIORITY.fullmatch(value.strip())
    return int(match.group(1)) if match else None


def _split(value: str, mapping: ExportMapping) -> list[str]:
    return [part.strip() for part in value.split(mapping.list_separator) if part.strip()]


def _float(value: str, bound: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if -bound <= number <= bound else None


def _location(row: Row) -> Address | None:
    place = Address(street=row.get("address", "").strip(), city=row.get("city", "").strip(),
                    state=row.get("state", "").strip(), zip=row.get("zip", "").strip(),
                    latitude=_float(row.get("latitude", ""), 90), longitude=_float(row.get("longitude", ""), 180))
    return place if place != Address() else None
