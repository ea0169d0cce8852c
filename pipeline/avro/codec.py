"""Avro single-object encoding (C3 01, CRC-64-AVRO fingerprint, body) for shared records.

Schemas are parsed once. A message is decoded with the writer schema its fingerprint
names (the current one or any committed earlier version) and resolved into the current
reader schema, then validated into the record class: a value outside a vocabulary, a
missing id, an unknown fingerprint, or truncated bytes is a `CodecError` (a dead letter).

Records are frozen, and decoding is a pure function of the bytes, so the codecs of a record
class keep the last `MEMO` records they decoded by their bytes: in one worker the same bytes are decoded again
and again (a referral request by two stages, an EMS run by its stage and then from the episode
store by detection's report and by rendering), and an EMS run read back from the episode store
is the one just saved. `encode` of a record that `decode` returned (the same object) gives its
bytes back when they were written with the current schema.
"""
from __future__ import annotations

import io
import json
import struct
import threading
from collections import OrderedDict
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
MEMO = 1024  # decoded records kept per codec (an EMS run is about 18 KB in memory)


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
        self._memo: _Memo = _MEMOS.setdefault(model, _Memo())  # one per record class: bytes decode alike in all

    def encode(self, record: M) -> bytes:
        if not isinstance(record, self.model):
            raise TypeError(f"expected {self.model.__name__}, got {type(record).__name__}")
        known = self._memo.bytes_of(record)
        if known is not None:
            return known
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(self.fingerprint)
        fastavro.schemaless_writer(out, self._reader, record.model_dump())
        return out.getvalue()

    def decode(self, data: bytes | None) -> M:
        if not data or len(data) < 10 or data[:2] != MAGIC:
            raise CodecError(f"not an Avro single-object message for {self.model.__name__}")
        data = bytes(data)
        known = self._memo.records.get(data)
        if known is not None:
            return known
        writer = self._writers.get(data[2:10])
        if writer is None:
            raise CodecError(f"unknown schema fingerprint {data[2:10].hex()} for {self.model.__name__}")
        body = io.BytesIO(data)
        body.seek(10)
        try:  # written with the current schema: nothing to resolve
            value = fastavro.schemaless_reader(body, writer, None if writer is self._reader else self._reader)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError, OverflowError) as e:
            raise CodecError(f"corrupt {self.model.__name__} body: {type(e).__name__}: {e}") from None
        if body.read(1):
            raise CodecError(f"trailing bytes after {self.model.__name__} body")
        try:
            record = self.model.model_validate(value)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CodecError(f"invalid {self.model.__name__}: {where}: {first['msg']}") from None
        self._memo.keep(data, record, current=writer is self._reader)
        return record


class _Memo:
    """The last MEMO records of one class decoded (bytes -> record, oldest first), and the bytes of
    those read with the current schema (by the record's id, checked against the record itself)."""

    def __init__(self) -> None:
        self.records: OrderedDict[bytes, Any] = OrderedDict()
        self._bytes: dict[int, bytes] = {}
        self._lock = threading.Lock()  # stages decode on the event loop and in database threads

    def bytes_of(self, record: Any) -> bytes | None:
        known = self._bytes.get(id(record))
        return known if known is not None and self.records.get(known) is record else None

    def keep(self, data: bytes, record: Any, current: bool) -> None:
        with self._lock:
            if data in self.records:  # another thread decoded the same bytes meanwhile
                return
            self.records[data] = record
            if current:
                self._bytes[id(record)] = data
            while len(self.records) > MEMO:
                _, old = self.records.popitem(last=False)
                self._bytes.pop(id(old), None)


_MEMOS: dict[type, _Memo] = {}


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
