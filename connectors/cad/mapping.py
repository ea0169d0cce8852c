"""The column mapping of a CAD export: which header carries which `DispatchIncident` field."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DEFAULT_PATH = Path(__file__).with_name("default_mapping.yaml")
FIELDS = frozenset({
    "incident_id", "updated_at", "received_at", "dispatched_at", "on_scene_at", "cleared_at",
    "call_type", "call_type_internal", "call_type_text", "mpds_determinant", "priority", "status",
    "disposition", "address", "city", "state", "zip", "latitude", "longitude", "units", "narrative",
})


DETERMINANT_MODES = ("shape", "never")
_DETERMINANT = re.compile(r"\d{1,2}\s*-?\s*[A-EOΩ]\s*-?\s*\d{1,2}\s*-?\s*[A-Z]?", re.I)


def looks_like_determinant(text: str) -> bool:
    """Whether a call-type cell has the shape of an MPDS determinant (23-C-1, 25D01, 23-C-01I, 17-B-1J)."""
    return bool(_DETERMINANT.fullmatch(text.strip()))


def normalise(header: str) -> str:
    return re.sub(r"[\s.\-]+", "_", header.strip().lower().removeprefix("\ufeff"))


@dataclass(frozen=True)
class ExportMapping:
    name: str
    dispatch_centre: str = ""
    timezone: ZoneInfo | None = None
    list_separator: str = ";"
    call_type_determinants: str = "shape"  # shape: a call type shaped like a determinant is read as one; never
    aliases: tuple[tuple[str, str], ...] = ()  # (normalised header, field), in priority order

    def field_for(self, header: str) -> str | None:
        wanted = normalise(header)
        return next((f for alias, f in self.aliases if alias == wanted), None)

    def headers(self, field: str) -> list[str]:
        return [alias for alias, f in self.aliases if f == field]


def mapping_from(config: dict) -> ExportMapping:
    """A mapping from its YAML structure; a bad mapping fails fast (it is configuration)."""
    columns = config.get("columns") or {}
    unknown = set(columns) - FIELDS
    if unknown:
        raise ValueError(f"unknown fields in the CAD mapping: {', '.join(sorted(unknown))}")
    if "incident_id" not in columns:
        raise ValueError("the CAD mapping must name the incident_id column")
    zone = str(config.get("timezone") or "")
    try:
        timezone = ZoneInfo(zone) if zone else None
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone in the CAD mapping: {zone}") from error
    aliases = tuple((normalise(str(a)), field) for field, names in columns.items() for a in names or ())
    determinants = str(config.get("call_type_determinants") or "shape")
    if determinants not in DETERMINANT_MODES:
        raise ValueError(f"call_type_determinants in the CAD mapping must be one of {', '.join(DETERMINANT_MODES)}")
    return ExportMapping(name=str(config.get("name") or "cad"), dispatch_centre=str(config.get("dispatch_centre") or ""),
                         timezone=timezone, list_separator=str(config.get("list_separator") or ";"),
                         call_type_determinants=determinants, aliases=aliases)


def load_mapping(path: Path) -> ExportMapping:
    return mapping_from(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@lru_cache(maxsize=1)
def default_mapping() -> ExportMapping:
    return load_mapping(DEFAULT_PATH)
