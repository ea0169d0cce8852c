"""Avro schemas from the shared records (pipeline/records.py), deterministically.

One Python class, one Avro named record `org.handoff.<Class>`; a nested record is
defined at its first use and referred to by name after that. A renamed record lists its
old names in `renamed_from` (a ClassVar) and a renamed field in its Field's
`json_schema_extra={"renamed_from": [...]}`: both become Avro aliases, so every earlier
version stays readable. Vocabularies are strings
(see pipeline/vocab.py); datetimes are timestamp-micros in UTC; dates are `date`.
"""
from __future__ import annotations

import types
import typing
from datetime import date, datetime
from enum import Enum
from typing import Any, Union

from pydantic import AwareDatetime, BaseModel


def schema_for(model: type[BaseModel]) -> dict[str, Any]:
    return _record(model, set())


def _record(model: type[BaseModel], defined: set[str]) -> dict[str, Any] | str:
    name = f"{getattr(model, 'namespace', 'org.handoff')}.{model.__name__}"
    if name in defined:
        return name
    defined.add(name)
    fields = []
    for field_name, info in model.model_fields.items():
        avro_type = _type(info.annotation, defined)
        field: dict[str, Any] = {"name": field_name, "type": avro_type}
        if info.description:
            field["doc"] = info.description
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("renamed_from"):
            field["aliases"] = list(info.json_schema_extra["renamed_from"])
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            field["default"] = _default(default)
            if default is None and isinstance(avro_type, list) and avro_type[0] != "null":
                raise TypeError(f"{name}.{field_name}: a null default needs null first")
        fields.append(field)
    record: dict[str, Any] = {"type": "record", "name": name, "fields": fields}
    if getattr(model, "renamed_from", ()):
        record["aliases"] = [f"{getattr(model, 'namespace', 'org.handoff')}.{old}" for old in model.renamed_from]
    if model.__doc__:
        record["doc"] = " ".join(model.__doc__.split("\n\n")[0].split())
    return record


def _type(annotation: Any, defined: set[str]) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], defined)
    if origin in (Union, types.UnionType):
        branches = [a for a in args if a is not type(None)]
        if len(branches) != 1:
            raise TypeError(f"only Optional[X] unions are supported, got {annotation}")
        return ["null", _type(branches[0], defined)]
    if origin is list:
        return {"type": "array", "items": _type(args[0], defined)}
    if origin is dict:
        if args[0] is not str:
            raise TypeError("map keys must be str")
        return {"type": "map", "values": _type(args[1], defined)}
    if annotation is AwareDatetime:
        return {"type": "long", "logicalType": "timestamp-micros"}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _record(annotation, defined)
        if issubclass(annotation, Enum):
            return "string"
        if issubclass(annotation, bool):
            return "boolean"
        if issubclass(annotation, int):
            return "long"
        if issubclass(annotation, float):
            return "double"
        if issubclass(annotation, str):
            return "string"
        if issubclass(annotation, bytes):
            return "bytes"
        if issubclass(annotation, datetime):
            return {"type": "long", "logicalType": "timestamp-micros"}
        if issubclass(annotation, date):
            return {"type": "int", "logicalType": "date"}
    raise TypeError(f"no Avro mapping for {annotation!r}")


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {k: _default(v) for k, v in value.model_dump().items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_default(v) for v in value]
    if isinstance(value, dict):
        return {k: _default(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (datetime, date)):
        raise TypeError("datetime defaults are not supported")
    return value
