"""A small strict HL7 v2 segment/field splitter: the inbound parser (connectors/hl7v2) and the
reading of ACK / RRI replies (pipeline/render/hl7.py) share it, so it lives in the core.

hl7apy (the project's HL7 v2 library) took ~15.5 ms to parse a 15-segment ORU^R01 here
(about 64 messages/s per core, with or without group finding), under the 100 messages/s
the MLLP listener must reach with everything else; this splitter reads the same message in
tens of microseconds (bench/parsers.py). It checks what a receiver must check and nothing
more: MSH first, sane encoding characters, well-formed segment ids, bounded sizes, valid
characters. Every failure is an `Hl7Error` with one reason and a position, no payload text.
hl7apy stays the tool for building and validating outbound messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 1024 * 1024
MAX_FIELD = 64 * 1024
MAX_SEGMENTS = 2000
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHARSETS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "ASCII": "ascii", "8859/1": "latin-1"}


class Hl7Error(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Segment:
    """One segment; `fields[n]` is field n in HL7 numbering (MSH-1 is the field separator)."""

    id: str
    fields: tuple[str, ...]

    def field(self, n: int) -> str:
        return self.fields[n] if 0 < n < len(self.fields) else ""


@dataclass(frozen=True)
class Message:
    segments: tuple[Segment, ...]
    field_sep: str
    component_sep: str
    repetition_sep: str
    escape: str
    subcomponent_sep: str

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def all(self, segment_id: str) -> list[Segment]:
        return [s for s in self.segments if s.id == segment_id]

    def first(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def get(self, segment: Segment | None, n: int, component: int = 1, repetition: int = 0) -> str:
        """Field n, component (1-based), repetition (0-based), unescaped; '' when absent."""
        if segment is None:
            return ""
        value = segment.field(n)
        if segment.id == "MSH" and n <= 2:
            return value
        reps = value.split(self.repetition_sep)
        if repetition >= len(reps):
            return ""
        parts = reps[repetition].split(self.component_sep)
        if component > len(parts):
            return ""
        return self.unescape(parts[component - 1].split(self.subcomponent_sep)[0])

    def unescape(self, text: str) -> str:
        e = self.escape
        if e not in text:
            return text
        table = {"F": self.field_sep, "S": self.component_sep, "R": self.repetition_sep, "E": e,
                 "T": self.subcomponent_sep, ".br": "\n"}
        pieces = text.split(e)
        out = [pieces[0]]
        for i in range(1, len(pieces), 2):
            code = pieces[i]
            out.append(table.get(code, ""))  # unknown escapes (\X..\, \H\, ...) are dropped
            if i + 1 < len(pieces):
                out.append(pieces[i + 1])
        return "".join(out)


def decode(data: bytes, max_bytes: int = MAX_BYTES) -> str:
    """The message text: MLLP framing removed, charset from MSH-18, segment ends normalised to CR."""
    if len(data) > max_bytes:
        raise Hl7Error(f"message is {len(data)} bytes, over the {max_bytes}-byte limit")
    data = data.strip(b"\x0b\x1c\r\n ")
    if not data.startswith(b"MSH"):
        raise Hl7Error("message does not start with an MSH segment")
    first = data.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("latin-1")
    sep = first[3:4]
    charset = first.split(sep)[17].split("^")[0].strip().upper() if sep and first.count(sep) >= 17 else ""
    codec = _CHARSETS.get(charset)
    if codec is None:
        raise Hl7Error("MSH-18 names a character set this receiver does not accept")
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as error:
        raise Hl7Error(f"message is not valid {codec} (byte {error.start})") from None
    return text.replace("\r\n", "\r").replace("\n", "\r")


def split(text: str, max_field: int = MAX_FIELD) -> Message:
    if len(text) < 8 or not text.startswith("MSH"):
        raise Hl7Error("message does not start with an MSH segment")
    fs = text[3]
    encoding = text[4:].split(fs, 1)[0]
    if (fs.isalnum() or fs in "\r\n " or not 4 <= len(encoding) <= 5 or len(set(encoding + fs)) != len(encoding) + 1
            or any(c.isalnum() or c in "\r\n " for c in encoding)):
        raise Hl7Error("MSH-1/MSH-2 encoding characters are invalid")
    if _CONTROL.search(text):
        raise Hl7Error("message contains control characters")
    lines = [line for line in text.split("\r") if line]
    if len(lines) > MAX_SEGMENTS:
        raise Hl7Error(f"message has more than {MAX_SEGMENTS} segments")
    segments = []
    for number, line in enumerate(lines, start=1):
        seg_id = line[:3]
        if not _SEGMENT_ID.fullmatch(seg_id) or (len(line) > 3 and line[3] != fs):
            raise Hl7Error(f"segment {number} has no valid segment id")
        if seg_id == "MSH" and number > 1:
            raise Hl7Error(f"segment {number} is a second MSH (batches are not accepted)")
        parts = line.split(fs)
        fields = (seg_id, fs, *parts[1:]) if seg_id == "MSH" else tuple(parts)
        for n, value in enumerate(fields):
            if len(value) > max_field:
                raise Hl7Error(f"{seg_id}-{n} (segment {number}) is longer than {max_field} characters")
        segments.append(Segment(seg_id, fields))
    if len(segments[0].fields) < 13:
        raise Hl7Error("MSH is truncated: it has fewer than 12 fields")
    return Message(tuple(segments), fs, encoding[0], encoding[1], encoding[2], encoding[3])


def read(data: bytes, *, max_bytes: int = MAX_BYTES, max_field: int = MAX_FIELD) -> Message:
    return split(decode(data, max_bytes), max_field)
