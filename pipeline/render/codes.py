"""The displays and code maps render writes from (codes.yaml), and ICD-10-CM descriptions.

    category_coding(Category.OVERDOSE)  -> ("55680006", "Drug overdose")
    nemsis_label("eHistory.17", "3117003") -> "Drug Paraphernalia at Scene"
    dose_unit("3706021") -> ("mg", "mg")     icd10cm("F32.9") -> "Major depressive disorder, ..."

ICD-10-CM descriptions come from the CMS tabular list shipped in `simple-icd-10-cm`; a code it does
not know is not an ICD-10-CM code and is not sent. That package builds the whole classification tree
on import (≈ 3 s of CPU, ≈ 170 MiB resident for good), so a worker never imports it: a child process
writes its codes and descriptions once per package version to a cache file (`python -m
pipeline.render.icd_table FILE`), and the worker reads that table (≈ 0.1 s, ≈ 20 MiB) on first use.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.vocab import Category

CODES_FILE = Path(__file__).resolve().parent / "codes.yaml"
CATEGORY_SYSTEM = "urn:handoff:category"
NEMSIS_SYSTEM = "urn:nemsis:"  # + element id: NEMSIS publishes no URI for its value lists
UCUM = "http://unitsofmeasure.org"


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
    """The ICD-10-CM description of a code as sent (with its dot, or without); '' when it is not a code."""
    table = icd_table()
    found = table.get(code)
    if found is None and len(code) >= 4 and code[3] != ".":
        found = table.get(f"{code[:3]}.{code[3:]}")
    return found or ""


@lru_cache(maxsize=1)
def icd_table() -> dict[str, str]:
    """Every ICD-10-CM item (chapters, blocks, codes) and its description (see the module's docstring)."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handoff"
    path = cache / f"icd10cm-{version('simple-icd-10-cm')}.tsv"
    if not path.exists():
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError:  # no writable cache: a private one
            path = Path(tempfile.mkdtemp(prefix="handoff-icd-")) / path.name
        subprocess.run([sys.executable, "-m", "pipeline.render.icd_table", str(path)], check=True)
    with path.open(encoding="utf-8") as lines:
        return dict(line.rstrip("\n").split("\t", 1) for line in lines)


@lru_cache(maxsize=256)
def language_name(tag: str) -> str:
    """The English name of a BCP-47 tag's language ('es-MX' -> 'Spanish'); '' when unknown."""
    import pycountry

    base = tag.split("-")[0].lower()
    found = pycountry.languages.get(alpha_2=base) if len(base) == 2 else pycountry.languages.get(alpha_3=base)
    return found.name if found is not None else ""
