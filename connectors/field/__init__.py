"""Field referrals: officers, crews and people themselves refer directly (PTACC pathways),
over HTTP as JSON or CSV, and CAD incidents closed as "referred to partner agency" (APCO 15)."""
from connectors.field.dispatch import referrals_from_incidents
from connectors.field.parse import parse_field_referrals

__all__ = ["parse_field_referrals", "referrals_from_incidents"]
