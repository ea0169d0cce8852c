"""The HL7 v2 acknowledgement for an inbound message (original mode: AA, AE, AR).

Pure: `build_ack(message_bytes, code, reason)` reads no clock and never raises on bad bytes. The ACK
swaps the sender and receiver of the original, echoes its MSH-10 in MSA-2, repeats its
processing id and version, and takes MSH-7 from `at` (the edge passes its clock's now),
else from the original's MSH-7. Its own MSH-10 is derived from the original's control id
and the code, so a resent message gets the same ACK. AE/AR carry an ERR segment with an
HL7 table 0357 code (default 207, application internal error) and the reason in ERR-8;
the reason is escaped and must not contain payload text (the parsers' reasons do not).
An unreadable original still gets an AR with an empty MSA-2.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pipeline.hl7v2 import Hl7Error, read
from connectors.hl7v2.parse import Header, header_of
from pipeline.ids import digest

ERROR_TEXT = {"100": "Segment sequence error", "101": "Required field missing", "102": "Data type error",
              "103": "Table value not found", "200": "Unsupported message type", "207": "Application internal error"}


def _escape(text: str) -> str:
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
    out = out.replace("~", "\\R\\").replace("\r", " ").replace("\n", " ")
    return "".join(c for c in out if c >= " ")[:250]


def _hl7_time(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S%z")


def build_ack(message_bytes: bytes, code: Literal["AA", "AE", "AR"], reason: str = "", *,
              error_code: str = "207", at: datetime | None = None) -> bytes:
    if code not in ("AA", "AE", "AR"):
        raise ValueError("code must be AA, AE or AR")
    try:
        head: Header | None = header_of(read(message_bytes))
    except Hl7Error:
        head = None
    if head is None:
        code = "AR"
        head = Header(control_id="", message_type="", trigger="", version="2.5.1", sending_app="",
                      sending_facility="", receiving_app="", receiving_facility="", processing_id="P", sent_at="")
    ack_id = "ACK" + digest(head.control_id, code, length=17).upper()
    sent = _hl7_time(at) if at is not None else _escape(head.sent_at)
    msh = "|".join(["MSH", "^~\\&", _escape(head.receiving_app), _escape(head.receiving_facility),
                    _escape(head.sending_app), _escape(head.sending_facility), sent, "",
                    f"ACK^{_escape(head.trigger)}^ACK", ack_id, _escape(head.processing_id) or "P",
                    _escape(head.version) or "2.5.1"])
    segments = [msh, f"MSA|{code}|{_escape(head.control_id)}"]
    if code != "AA":
        label = ERROR_TEXT.get(error_code, "Application error")
        # ERR-3 HL7 error code, ERR-4 severity, ERR-8 user message
        segments.append(f"ERR|||{_escape(error_code)}^{_escape(label)}^HL70357|E||||{_escape(reason)}")
    return ("\r".join(segments) + "\r").encode("utf-8")
