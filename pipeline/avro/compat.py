"""Avro schema resolution, checked statically (Avro 1.11 specification, "Schema Resolution").

`reader_errors(reader, writer)` lists why data written with `writer` could not be read
with `reader` (empty: it can). Full compatibility is both directions; full transitive
is full against every earlier version. Logical types are compared by their base type.

A rename declared with an alias (a record's or a field's `aliases`) resolves in both
directions: the new reader finds the old name through its alias, and the old reader's
name is found among the new writer's aliases. Avro's own rules accept only the first, so
a generic reader of an old schema cannot read a renamed record; Handoff's readers decode
with the writer schema its fingerprint names, which an old worker does not know for any
changed schema, so an upgrade rolls the readers first (README, "Changing a record").
"""
from __future__ import annotations

from typing import Any

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
PROMOTIONS = {
    ("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"),
    ("long", "double"), ("float", "double"), ("string", "bytes"), ("bytes", "string"),
}


def full_errors(new: dict, old: dict) -> list[str]:
    """Errors that stop `new` reading `old` data, or `old` reading `new` data."""
    backward = [f"new cannot read old: {e}" for e in reader_errors(new, old)]
    forward = [f"old cannot read new: {e}" for e in reader_errors(old, new)]
    return backward + forward


def reader_errors(reader: Any, writer: Any) -> list[str]:
    return _Resolver(_names(reader), _names(writer)).check(reader, writer, "$", set())


def _names(schema: Any, names: dict[str, dict] | None = None, namespace: str = "") -> dict[str, dict]:
    names = {} if names is None else names
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, names, namespace)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            full = _fullname(schema, namespace)
            names[full] = schema
            names.setdefault(full.rsplit(".", 1)[-1], schema)
            namespace = full.rsplit(".", 1)[0] if "." in full else ""
        for field in schema.get("fields", []):
            _names(field["type"], names, namespace)
        for key in ("items", "values"):
            if key in schema:
                _names(schema[key], names, namespace)
        if isinstance(kind, (dict, list)):
            _names(kind, names, namespace)
    return names


def _fullname(schema: dict, namespace: str) -> str:
    name = schema["name"]
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _Resolver:
    def __init__(self, reader_names: dict, writer_names: dict) -> None:
        self.reader_names = reader_names
        self.writer_names = writer_names

    def _deref(self, schema: Any, names: dict) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return names[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), (str,)) and schema["type"] in PRIMITIVES:
            return schema["type"]  # logical or annotated primitive
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self._deref(schema["type"], names)
        return schema

    def check(self, reader: Any, writer: Any, path: str, seen: set) -> list[str]:
        reader = self._deref(reader, self.reader_names)
        writer = self._deref(writer, self.writer_names)
        if isinstance(writer, list):
            errors = []
            for branch in writer:
                errors += self.check(reader, branch, path, seen)
            return errors
        if isinstance(reader, list):
            for branch in reader:
                if not self.check(branch, writer, path, seen):
                    return []
            return [f"{path}: writer type {_label(writer)} matches no branch of the reader union"]
        if isinstance(reader, str) or isinstance(writer, str):
            if reader == writer or (isinstance(reader, str) and isinstance(writer, str) and (writer, reader) in PROMOTIONS):
                return []
            return [f"{path}: {_label(writer)} cannot be read as {_label(reader)}"]
        kind = reader["type"]
        if kind != writer["type"]:
            return [f"{path}: {writer['type']} cannot be read as {kind}"]
        if kind in ("record", "enum", "fixed"):
            readers = {_short(reader["name"]), *map(_short, reader.get("aliases", []))}
            writers = {_short(writer["name"]), *map(_short, writer.get("aliases", []))}
            if not readers & writers:
                return [f"{path}: record {writer['name']} cannot be read as {reader['name']}"]
        if kind == "record":
            pair = (reader["name"], writer["name"])
            if pair in seen:
                return []
            return self._record(reader, writer, path, seen | {pair})
        if kind == "enum":
            missing = set(writer["symbols"]) - set(reader["symbols"])
            if missing and "default" not in reader:
                return [f"{path}: enum symbols {sorted(missing)} unknown to the reader"]
            return []
        if kind == "fixed":
            return [] if reader["size"] == writer["size"] else [f"{path}: fixed size differs"]
        if kind == "array":
            return self.check(reader["items"], writer["items"], f"{path}[]", seen)
        if kind == "map":
            return self.check(reader["values"], writer["values"], f"{path}{{}}", seen)
        return [f"{path}: unknown type {kind}"]

    def _record(self, reader: dict, writer: dict, path: str, seen: set) -> list[str]:
        written = {n: f for f in writer["fields"] for n in (f["name"], *f.get("aliases", []))}
        errors = []
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            source = next((written[n] for n in names if n in written), None)
            where = f"{path}.{field['name']}"
            if source is None:
                if "default" not in field:
                    errors.append(f"{where}: reader field has no default and the writer lacks it")
                continue
            errors += self.check(field["type"], source["type"], where, seen)
        return errors


def _label(schema: Any) -> str:
    return schema if isinstance(schema, str) else schema.get("name", schema.get("type", "?"))
