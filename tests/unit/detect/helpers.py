"""Build small shared records from the compact case specs used in the rule files (pipeline/detect/cases.py)."""
from pipeline.detect.cases import KEY, T0, envelope, incident_from, run_from

__all__ = ["KEY", "T0", "envelope", "incident_from", "run_from"]
