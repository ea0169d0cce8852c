"""US places by code and by name: ANSI/FIPS state and county codes (the Census 2020 list shipped
in the `addfips` package's data), USPS state abbreviations, and county matching.

NEMSIS carries places as codes (DOMAIN.md §1): state a 2-digit FIPS code, county a 5-digit one.
FHIR Address.state wants the USPS abbreviation and Address.district the county name; a provider
directory written by a county names its counties. `county_keys` puts both on one footing, so
routing matches a FIPS code against a name and a name against a FIPS code.

    state_abbr("09") -> "CT"                 county_name("09001") -> "Fairfield County"
    county_fips("Sangamon", "IL") -> "17167"  county_keys("17167") & county_keys("Sangamon", "IL")
"""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources

_SUFFIX = re.compile(r"\s+(county|parish|borough|census area|city and borough|municipality|municipio)$")


def _rows(name: str) -> list[dict[str, str]]:
    with resources.files("addfips").joinpath("data", name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=1)
def _states() -> tuple[dict[str, str], dict[str, str]]:
    """(FIPS -> USPS, USPS -> FIPS)."""
    rows = _rows("states.csv")
    return {r["fips"]: r["postal"] for r in rows}, {r["postal"]: r["fips"] for r in rows}


@lru_cache(maxsize=1)
def _counties() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(5-digit FIPS -> name, (state FIPS, normalised name) -> 5-digit FIPS)."""
    by_code, by_name = {}, {}
    for row in _rows("counties_2020.csv"):
        code = row["statefp"] + row["countyfp"]
        by_code[code] = row["name"]
        by_name.setdefault((row["statefp"], normalise(row["name"])), code)
    return by_code, by_name


def normalise(county: str) -> str:
    """A county name as compared: lower case, single spaces, no 'County' / 'Parish' suffix."""
    return _SUFFIX.sub("", " ".join(county.lower().replace(".", "").split()))


def state_abbr(value: str) -> str:
    """The USPS abbreviation for a FIPS state code or an abbreviation; '' when unknown."""
    value = value.strip()
    fips_to_usps, usps_to_fips = _states()
    if value.upper() in usps_to_fips:
        return value.upper()
    return fips_to_usps.get(value.zfill(2) if value.isdigit() else value, "")


def state_fips(value: str) -> str:
    abbr = state_abbr(value)
    return _states()[1].get(abbr, "")


def county_name(code: str) -> str:
    """The Census name of a 5-digit county FIPS code ('' when unknown)."""
    return _counties()[0].get(code.strip(), "")


def county_fips(county: str, state: str = "") -> str:
    """The 5-digit FIPS code of a county given as a code, or as a name within a state."""
    county = county.strip()
    if re.fullmatch(r"[0-9]{5}", county):
        return county if county in _counties()[0] else ""
    st = state_fips(state)
    return _counties()[1].get((st, normalise(county)), "") if st else ""


def county_keys(county: str, state: str = "", code: str = "") -> frozenset[str]:
    """What a county can be matched by: `fips:<code>` when known, and `name:<normalised name>`.
    A county given by code also gets its name; a named county with a state also gets its code."""
    keys = set()
    fips = county_fips(code, state) if code else ""
    fips = fips or county_fips(county, state)
    if fips:
        keys.add(f"fips:{fips}")
        keys.add(f"name:{normalise(county_name(fips))}")
    if county.strip() and not re.fullmatch(r"[0-9]{5}", county.strip()):
        keys.add(f"name:{normalise(county)}")
    return frozenset(keys)


def same_county(a: frozenset[str], b: frozenset[str]) -> bool:
    """Do two `county_keys` name the same county? By FIPS code when both sides have one (two states
    have a Washington County), by name otherwise."""
    fa, fb = {k for k in a if k.startswith("fips:")}, {k for k in b if k.startswith("fips:")}
    if fa and fb:
        return bool(fa & fb)
    return bool({k for k in a if k.startswith("name:")} & {k for k in b if k.startswith("name:")})
