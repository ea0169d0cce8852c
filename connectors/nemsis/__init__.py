"""NEMSIS v3.5.1 ePCR XML → `EmsRun` records (see parse.py)."""
from connectors.nemsis.parse import parse_emsdataset

__all__ = ["parse_emsdataset"]
