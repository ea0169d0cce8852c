"""The displays and code maps render writes from (codes.yaml), and ICD-10-CM descriptions.

    category_coding(Category.OVERDOSE)  -> ("55680006", "Drug overdose")
    nemsis_label("eHistory.17", "3117003") -> "Drug Paraphernalia at Scene"
    dose_unit("3706021") -> ("mg", "mg")     icd10cm("F32.9") -> "Major depressive disorder, ..."

ICD-10-CM descriptions come from the CMS tabular list shipped in `simple-icd-10-cm`; a code it does not
know is not an ICD-10-CM code and is not sent. Importing that package parses a 10 MB XML file (~3 s of CPU,
much of it holding the GIL, which stalls every thread of a running worker: heartbeats, /readyz). So the
worker loads the table once before it consumes (`load_icd10cm`), from a JSON cache of code → description
named for the package's version when there (~0.1 s), else from the package, writing the cache for the
next start. Without that call the first finding rendered loads it (tests, one-off commands).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import yaml

from pipeline.vocab import Category

CODES_FILE = Path(__file__).resolve().parent / "codes.yaml"
CATEGORY_SYSTEM = "urn:handoff:category"
NEMSIS_SYSTEM = "urn:nemsis:"  # + element id: NEMSIS publishes no URI for its value lists
UCUM = "http://unitsofmeasure.org"
log = logging.getLogger(__name__)
_icd: dict[str, str] | None = None
_icd_lock = threading.Lock()


@lru_cache(maxsize=1)
def _tables() -> dict:
    return yaml.safe_load(CODES_FILE.read_text())


def category_coding(category: Category) -> tuple[str, str]:
    code, display = _tables()["categories"][category.value]
    return str(code), display


def category_display(category: Category) -> str:
    return category.value.replace("_", " ")


def nemsis_label(element: str, code: str) -> str:
    return _tables()["nemsis"].get(element, {}).get(code, "")


def dose_unit(code: str) -> tuple[str, str] | None:
    """(UCUM code or '', unit as written) for a NEMSIS eMedications.06 code; None when unknown."""
    found = _tables()["dose_units"].get(code)
    return (found[0], found[1]) if found else None


def icd10cm(code: str) -> str:
    """The ICD-10-CM description of a code as sent (with or without its dot); '' when it is not a code
    (the package's own lookup: the dotted form first)."""
    table = _icd if _icd is not None else _load_icd10cm(None)[0]
    if len(code) >= 4 and code[3] != "." and f"{code[:3]}.{code[3:]}" in table:
        return table[f"{code[:3]}.{code[3:]}"]
    return table.get(code, "")


def load_icd10cm(cache_dir: Path | None) -> tuple[int, str]:
    """Load the ICD-10-CM table once; (codes, where from: 'cache' | 'package' | 'memory')."""
    table, source = _load_icd10cm(cache_dir)
    return len(table), source


def _load_icd10cm(cache_dir: Path | None) -> tuple[dict[str, str], str]:
    global _icd
    with _icd_lock:
        if _icd is not None:
            return _icd, "memory"
        cache = cache_dir / f"icd10cm-{version('simple-icd-10-cm')}.json" if cache_dir is not None else None
        try:
            _icd, source = json.loads(cache.read_text(encoding="utf-8")), "cache"
        except (AttributeError, OSError, ValueError):  # no cache asked, none yet, or unreadable: the package
            _icd, source = _from_package(), "package"
            if cache is not None:
                _write(cache, json.dumps(_icd, separators=(",", ":")))
        return _icd, source


def _from_package() -> dict[str, str]:
    with warnings.catch_warnings():  # the package reads its data with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd
    return {code: icd.get_description(code) for code in icd.get_all_codes(True)}


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)  # atomic: a concurrent reader sees the whole file or none
    except OSError as e:  # a read-only disk only costs the next start the package's load
        log.warning("ICD-10-CM cache not written to %s (%s)", path, type(e).__name__)


@lru_cache(maxsize=256)
def language_name(tag: str) -> str:
    """The English name of a BCP-47 tag's language ('es-MX' -> 'Spanish'); '' when unknown."""
    import pycountry

    base = tag.split("-")[0].lower()
    found = pycountry.languages.get(alpha_2=base) if len(base) == 2 else pycountry.languages.get(alpha_3=base)
    return found.name if found is not None else ""
