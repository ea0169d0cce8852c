"""Corpus scenarios for CAD incidents: what the caller reported, with its truth (see scenarios.py)."""
from __future__ import annotations

from typing import Callable

from pipeline.detect.corpus.scenarios import BH, OD, OPI, SU, SUI, Ctx, Out

TEXT = {"OD": "OVERDOSE/POISONING", "EDP": "EMOTIONALLY DISTURBED PERSON", "MNTL": "MENTAL PERSON",
        "MTLV": "MENTAL PERSON VIOLENT", "SUICIDE": "SUICIDE", "SUICTHRT": "SUICIDE ATTEMPT/THREAT",
        "WELFARE": "WELFARE CHECK", "INTOX": "INTOXICATED PERSON", "DRUGS": "DRUGS/NARCOTICS",
        "PERUNCON": "PERSON UNCONSCIOUS", "MEDICAL": "MEDICAL CALL", "FALL": "FALL", "CHESTPN": "CHEST PAIN",
        "BREATH": "BREATHING PROBLEM"}


def _f(c: Ctx, call_type: str, mpds_key: str | None, phr: str, disp: list[str] | None = None) -> dict:
    return {"call_type": call_type, "call_text": TEXT[call_type] if c.chance(0.7) else "",
            "internal": f"{call_type[:4]}{c.rng.randint(1, 3)}" if c.chance(0.5) else "",
            "mpds": c.rng.choice(c.bank["codes"][mpds_key]) if mpds_key and c.chance(0.7) else "",
            "narrative": c.say(phr).upper(), "dispositions": disp or [c.rng.choice(["45", "43", "42", "41"])]}


def d_opioid(c: Ctx) -> Out:
    c.slots["drug"], c.slots["nal"] = c.word("opioid"), c.word("naloxone")
    return _f(c, c.rng.choice(["OD", "OD", "PERUNCON"]), "mpds_od", "d_opioid"), {OD, OPI, SU}, set()


def d_od_party(c: Ctx) -> Out:
    c.slots["drug"] = c.word("stimulant")
    c.tags.add("stimulants")
    return _f(c, "OD", "mpds_od", "d_od_party"), {OD, SU}, set()


def d_intentional(c: Ctx) -> Out:
    c.slots["pills"] = c.rng.choice(c.bank["words"]["rx_pills"])
    c.tags.add("intentional_ingestion")
    return _f(c, c.rng.choice(["OD", "SUICTHRT"]), "mpds_od_intentional", "d_intentional"), {OD, SUI, BH}, set()


def d_suicide(c: Ctx) -> Out:
    return _f(c, c.rng.choice(["SUICTHRT", "SUICIDE", "EDP"]), "mpds_suicide", "d_suicide"), {SUI, BH}, set()


def d_psych(c: Ctx) -> Out:
    c.tags.add("psychiatric_no_substance")
    return _f(c, c.rng.choice(["EDP", "MNTL", "MTLV"]), "mpds_psych", "d_psych"), {BH}, set()


def d_intox(c: Ctx) -> Out:
    c.slots["alc"] = c.word("alcohol")
    c.tags.add("alcohol_only")
    return _f(c, "INTOX", None, "d_intox"), {SU}, set()


def d_welfare_si(c: Ctx) -> Out:
    return _f(c, "WELFARE", None, "d_welfare_si"), {SUI, BH}, set()


def d_welfare_none(c: Ctx) -> Out:
    return _f(c, "WELFARE", None, "d_welfare_none"), set(), set()


def d_unc_needle(c: Ctx) -> Out:
    return _f(c, "PERUNCON", "mpds_unc", "d_unc_needle"), {OD, SU}, set()


def d_drugs_police(c: Ctx) -> Out:
    c.tags.add("third_party")
    return _f(c, "DRUGS", None, "d_drugs_police", ["15"]), set(), set()


def d_medical_neg(c: Ctx) -> Out:
    c.tags.add("negation")
    return _f(c, c.rng.choice(["MEDICAL", "FALL", "CHESTPN", "BREATH", "PERUNCON"]), None, "d_medical_neg"), set(), set()


def d_child(c: Ctx) -> Out:
    c.slots["pills"] = c.rng.choice(c.bank["words"]["rx_pills"])
    return _f(c, "OD", "mpds_od_child", "d_child"), {OD}, set()


def d_third(c: Ctx) -> Out:
    c.slots["drug"] = c.word("opioid", 0.2)
    c.tags.add("third_party")
    return _f(c, c.rng.choice(["MEDICAL", "CHESTPN", "FALL"]), None, "d_third"), set(), set()


DISPATCH_SCENARIOS: list[tuple[str, float, Callable[[Ctx], Out]]] = [
    ("d_opioid", 0.16, d_opioid), ("d_od_party", 0.06, d_od_party), ("d_intentional", 0.07, d_intentional),
    ("d_suicide", 0.1, d_suicide), ("d_psych", 0.1, d_psych), ("d_intox", 0.07, d_intox),
    ("d_welfare_si", 0.05, d_welfare_si), ("d_welfare_none", 0.06, d_welfare_none),
    ("d_unc_needle", 0.05, d_unc_needle), ("d_drugs_police", 0.05, d_drugs_police),
    ("d_medical_neg", 0.12, d_medical_neg), ("d_child", 0.04, d_child), ("d_third", 0.07, d_third),
]
