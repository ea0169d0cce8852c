"""HL7 v2 inbound: ORU^R01 / ADT^A04 / ADT^A08 carrying an ePCR → `EmsRun`; ACKs for the MLLP edge."""
from connectors.hl7v2.ack import build_ack
from connectors.hl7v2.parse import Header, parse_hl7, read_header

__all__ = ["Header", "build_ack", "parse_hl7", "read_header"]
