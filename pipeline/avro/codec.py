"""Avro single-object encoding (C3 01, CRC-64-AVRO fingerprint, body) for shared records.

Schemas are parsed once. A message is decoded with the writer schema its fingerprint
names (the current one or any committed earlier version) and resolved into the current
reader schema, then validated into the record class: a value outside a vocabulary, a
missing id, an unknown fingerprint, or truncated bytes is a `CodecError` (a dead letter).
"""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any, Generic, Iterable, TypeVar

import fastavro
from fastavro.schema import to_parsing_canonical_form
from pydantic import BaseModel, ValidationError

from pipeline.avro.generate import schema_for

MAGIC = b"\xc3\x01"
_EMPTY = 0xC15D213AA4D7A795
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)

M = TypeVar("M", bound=BaseModel)


class CodecError(ValueError):
    """Bytes that are not a valid single-object encoding of the expected record."""


def fingerprint(schema: dict) -> bytes:
    """CRC-64-AVRO of the schema's parsing canonical form, little-endian (Avro spec)."""
    fp = _EMPTY
    for byte in to_parsing_canonical_form(fastavro.parse_schema(schema, _write_hint=False)).encode():
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return struct.pack("<Q", fp)


class Codec(Generic[M]):
    """Encode and decode one record class; knows its earlier committed schema versions."""

    def __init__(self, model: type[M], history: Iterable[dict] = ()) -> None:
        self.model = model
        self.schema = schema_for(model)
        self._reader = fastavro.parse_schema(self.schema)
        self.fingerprint = fingerprint(self.schema)
        self._writers: dict[bytes, Any] = {self.fingerprint: self._reader}
        for old in history:
            self._writers.setdefault(fingerprint(old), fastavro.parse_schema(old))

    def encode(self, record: M) -> bytes:
        if not isinstance(record, self.model):
            raise TypeError(f"expected {self.model.__name__}, got {type(record).__name__}")
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(self.fingerprint)
        fastavro.schemaless_writer(out, self._reader, record.model_dump())
        return out.getvalue()

    def decode(self, data: bytes | None) -> M:
        if not data or len(data) < 10 or data[:2] != MAGIC:
            raise CodecError(f"not an Avro single-object message for {self.model.__name__}")
        writer = self._writers.get(data[2:10])
        if writer is None:
            raise CodecError(f"unknown schema fingerprint {data[2:10].hex()} for {self.model.__name__}")
        body = io.BytesIO(data[10:])
        try:
            value = fastavro.schemaless_reader(body, writer, self._reader)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError, OverflowError) as e:
            raise CodecError(f"corrupt {self.model.__name__} body: {type(e).__name__}: {e}") from None
        if body.read(1):
            raise CodecError(f"trailing bytes after {self.model.__name__} body")
        try:
            return self.model.model_validate(value)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CodecError(f"invalid {self.model.__name__}: {where}: {first['msg']}") from None


class Registry:
    """Codecs for every shared record, with the committed history under pipeline/schemas/history/."""

    def __init__(self, schema_dir: Path) -> None:
        self.schema_dir = schema_dir
        self._codecs: dict[type, Codec] = {}

    def history(self, model: type[BaseModel]) -> list[dict]:
        folder = self.schema_dir / "history" / f"{getattr(model, 'namespace', 'org.handoff')}.{model.__name__}"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.avsc"))]

    def codec(self, model: type[M]) -> Codec[M]:
        codec = self._codecs.get(model)
        if codec is None:
            codec = self._codecs[model] = Codec(model, self.history(model))
        return codec
