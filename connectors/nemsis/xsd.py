"""Optional XSD validation of an EMSDataSet, with the compiled schema cached per path."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lxml import etree

MAX_ERRORS = 5
_QUOTED_VALUE = re.compile(r"(The value|value) '[^']*'")


@lru_cache(maxsize=4)
def schema(path: str) -> etree.XMLSchema:
    """The compiled schema; its includes are read from local files, never the network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.XMLSchema(etree.parse(path, parser=parser))


def validate(root: etree._Element, path: Path) -> tuple[str, ...]:
    """The first errors as 'line N: message' (values redacted); empty when the document is valid."""
    compiled = schema(str(path))
    if compiled.validate(root):
        return ()
    errors = []
    for entry in list(compiled.error_log)[:MAX_ERRORS]:
        message = _QUOTED_VALUE.sub(r"\1 '…'", entry.message).replace("{http://www.nemsis.org}", "")
        errors.append(f"line {entry.line}: {message}")
    return tuple(errors)
