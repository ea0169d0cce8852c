"""Every coded field of a REF message against its HL7 v2.5.1 table.

The field -> table map and the table values are hl7apy's v2.5.1 definitions (hl7apy.v2_5_1.fields
and .tables). hl7apy's copy of table 0396 (coding systems) predates some 2.5.1 entries; the ones
Handoff sends are added here from the standard (SCT SNOMED CT, I10C ICD-10-CM, RXNORM, UCUM), and
0396's own patterns (HL7nnnn, 99zzz local systems) are honoured.

    table_problems(body) -> ["RF1-10: 'X' is not in HL70336", ...]
"""
from __future__ import annotations

import re

from hl7apy.v2_5_1.fields import FIELDS
from hl7apy.v2_5_1.tables import TABLES

from pipeline.hl7v2 import read

CODING_SYSTEMS_251 = {"SCT", "I10C", "RXNORM", "UCUM"}  # in 2.5.1's table 0396, missing from hl7apy's copy
CODED = ("CE", "CWE", "CNE")
# composite types: (component, table) pairs the standard binds inside the type
COMPONENT_TABLES = {"XTN": ((2, "HL70201"), (3, "HL70202")), "CX": ((5, "HL70203"),), "PLN": ((2, "HL70338"),),
                    "XAD": ((7, "HL70190"),), "XPN": ((7, "HL70200"),), "MSG": ((1, "HL70076"), (2, "HL70003"),
                                                                                   (3, "HL70354"))}


def _values(table: str) -> set[str]:
    return set(TABLES[table][1]) if table in TABLES else set()


def _coding_system(system: str) -> bool:
    return (system in _values("HL70396") or system in CODING_SYSTEMS_251 or bool(re.fullmatch(r"HL7\d{4}", system))
            or bool(re.fullmatch(r"99[A-Z0-9]+", system)))


def _coded(where: str, components: list[str], table: str | None) -> list[str]:
    out = []
    for code_at, system_at in ((0, 2), (3, 5)):
        code = components[code_at] if len(components) > code_at else ""
        system = components[system_at] if len(components) > system_at else ""
        text = components[code_at + 1] if len(components) > code_at + 1 else ""
        if not code:
            continue
        if not system and not table:
            out.append(f"{where}: code {code!r} without a coding system")
        if system and not _coding_system(system):
            out.append(f"{where}: coding system {system!r} is not in table 0396")
        if re.fullmatch(r"HL7\d{4}", system) and code not in _values(system):
            out.append(f"{where}: {code!r} is not in {system}")
        if code_at == 0 and table and table in TABLES and code not in _values(table):
            out.append(f"{where}: {code!r} is not in {table}")
        if not text:
            out.append(f"{where}: code {code!r} has no text")
    return out


def table_problems(body: bytes) -> list[str]:
    message = read(body)
    out = []
    for segment in message.segments:
        for n in range(1, len(segment.fields)):
            value, spec = segment.fields[n], FIELDS.get(f"{segment.id}_{n}")
            if spec is None or not value or (segment.id == "MSH" and n <= 2):  # MSH-1/2: the separators
                continue
            _, _, datatype, _, table, _ = spec
            for repetition in value.split("~"):
                where = f"{segment.id}-{n}"
                components = repetition.split("^")
                if datatype in CODED:
                    out += _coded(where, components, table)
                elif datatype in ("ID", "IS") and table and table in TABLES and repetition not in _values(table):
                    out.append(f"{where}: {repetition!r} is not in {table}")
                for at, bound in COMPONENT_TABLES.get(datatype, ()):
                    part = components[at - 1] if len(components) >= at else ""
                    if part and bound in TABLES and part not in _values(bound):
                        out.append(f"{where}.{at}: {part!r} is not in {bound}")
    return out


SNOMED_SERVICES_WITHOUT_TYPE = {"306206005", "306238000"}  # referral to service / to social services: no 0281 value


def ref_problems(body: bytes) -> list[str]:
    """What a REF's fields mean (issue 16): OBR-4 is the service asked for in SNOMED CT (not a document
    code), RF1-10 a referral reason from 0336 (not a service code), RF1-3 a referral type from 0281
    wherever 0281 has one for the service."""
    message = read(body)
    rf1, obr = message.first("RF1"), message.first("OBR")
    out = [] if obr is not None and message.get(obr, 4, 3) == "SCT" else ["OBR-4: the service is not coded in SCT"]
    if message.get(rf1, 10) not in _values("HL70336"):
        out.append("RF1-10: not a referral reason from 0336")
    service = message.get(obr, 4) if obr is not None else ""
    if not message.get(rf1, 3) and service not in SNOMED_SERVICES_WITHOUT_TYPE:
        out.append(f"RF1-3: no referral type for service {service!r}")
    return out
