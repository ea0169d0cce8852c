"""CAD inputs: NENA EIDO JSON and CSV / JSON-lines exports → `DispatchIncident` records."""
from connectors.cad.eido import parse_eido
from connectors.cad.export import parse_cad_export
from connectors.cad.mapping import ExportMapping, default_mapping, load_mapping, mapping_from

__all__ = ["ExportMapping", "default_mapping", "load_mapping", "mapping_from", "parse_cad_export", "parse_eido"]
