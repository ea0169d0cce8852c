"""A PIDF-LO location (RFC 4119 / 5139 / 5491) inside an EIDO location → `Address`.

Read with the same safe XML parser as NEMSIS. A location given by reference
(`locationByReferenceUrl`) is never fetched: this module only ever sees a string.
"""
from __future__ import annotations

from connectors.safexml import UnsafeXml, local, parse_xml
from pipeline.records import Address

MAX_PIDF_BYTES = 256 * 1024
_STREET = ("HNO", "HNS", "PRD", "RD", "STS", "POD")


def parse_pidf(text: str) -> Address | None:
    """The civic address and/or point of a PIDF-LO document; None when unreadable or empty."""
    try:
        root = parse_xml(text.encode("utf-8"), max_bytes=MAX_PIDF_BYTES, max_depth=32)
    except UnsafeXml:
        return None
    civic: dict[str, str] = {}
    lat = lon = None
    for el in root.iter():
        name = local(el.tag)
        if name == "civicAddress":
            for part in el:
                civic.setdefault(local(part.tag), (part.text or "").strip())
        elif name == "pos" and lat is None:
            lat, lon = _pos(el.text or "")
    street = " ".join(civic[k] for k in _STREET if civic.get(k))
    place = Address(street=street, city=civic.get("A3", ""), county=civic.get("A2", ""),
                    state=civic.get("A1", ""), zip=civic.get("PC", ""), latitude=lat, longitude=lon)
    return place if place != Address() else None


def _pos(text: str) -> tuple[float | None, float | None]:
    """gml:pos is 'latitude longitude' in EPSG:4326 order."""
    parts = text.split()
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        return None, None
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else (None, None)
