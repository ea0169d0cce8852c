"""The displays and code maps render writes from (codes.yaml), and ICD-10-CM descriptions.

    category_coding(Category.OVERDOSE)  -> ("55680006", "Drug overdose")
    nemsis_label("eHistory.17", "3117003") -> "Drug Paraphernalia at Scene"
    dose_unit("3706021") -> ("mg", "mg")     icd10cm("F32.9") -> "Major depressive disorder, ..."

ICD-10-CM descriptions come from the CMS tabular list shipped in `simple-icd-10-cm` (loaded once,
~2 s, on the first finding rendered); a code it does not know is not an ICD-10-CM code and is not sent.
"""
from __future__ import annotations

import warnings
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


@lru_cache(maxsize=4096)
def icd10cm(code: str) -> str:
    """The ICD-10-CM description of a code as sent (with its dot); '' when it is not a code."""
    with warnings.catch_warnings():  # the package reads its data with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd
    try:
        return icd.get_description(code) if icd.is_valid_item(code) else ""
    except ValueError:
        return ""


@lru_cache(maxsize=256)
def language_name(tag: str) -> str:
    """The English name of a BCP-47 tag's language ('es-MX' -> 'Spanish'); '' when unknown."""
    import pycountry

    base = tag.split("-")[0].lower()
    found = pycountry.languages.get(alpha_2=base) if len(base) == 2 else pycountry.languages.get(alpha_3=base)
    return found.name if found is not None else ""
