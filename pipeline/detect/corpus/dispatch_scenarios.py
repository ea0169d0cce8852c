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


# Issue 18 classes: the determinant alone, the caller describing the patient, law-enforcement drug calls.
MPDS_TRUTH = {"od": {OD}, "od_intent": {OD, SUI, BH}, "bh": {BH}, "sui": {SUI, BH}, "none": set()}


def d_determinant(c: Ctx) -> Out:
    """Only the MPDS determinant tells what the call is (exported where the call type goes)."""
    code, meaning = c.codes("mpds_only")
    c.tags.add("determinant_call_type")
    f = {"call_type": "", "mpds": code, "determinant_in_call_type": True, "call_text": "", "internal": "",
         "narrative": c.say("d_sparse").upper() if c.chance(0.6) else "",
         "dispositions": [c.rng.choice(["45", "43", "42", "41"])]}
    return f, set(MPDS_TRUTH[meaning]), set()


REL_KINDS = [("d_rel_opioid", "OD", {OD, OPI, SU}), ("d_rel_suicide", "SUICTHRT", {SUI, BH}),
             ("d_rel_psych", "EDP", {BH}), ("d_rel_intox", "INTOX", {SU})]


def d_caller_relative(c: Ctx) -> Out:
    """The caller describes a relative, roommate or stranger: that person is the patient."""
    phr, call_type, truth = c.rng.choice(REL_KINDS)
    c.slots["rel"] = c.rng.choice(c.bank["words"]["caller_rel"])
    c.slots["drug"], c.slots["nal"], c.slots["alc"] = c.word("opioid", 0.2), c.word("naloxone"), c.word("alcohol")
    c.tags.add("caller_third_party")
    return _f(c, call_type if c.chance(0.6) else "MEDICAL", None, phr), set(truth), set()


def d_le_drugs(c: Ctx) -> Out:
    """A law-enforcement drug call (sale, possession, search): nobody's substance use is a health event here."""
    c.tags.add("law_enforcement_drugs")
    c.slots["nal"] = c.word("naloxone")
    if c.chance(0.2):  # the person in custody overdoses: a health event after all
        c.slots["drug"] = c.word("opioid", 0.2)
        return _f(c, "DRUGS", None, "d_le_overdose", ["45"]), {OD, OPI, SU}, set()
    c.slots["drug"] = c.word("opioid" if c.chance(0.5) else "stimulant", 0.2)
    return _f(c, "DRUGS", None, "d_le", ["15"]), set(), set()


DISPATCH_SCENARIOS += [
    ("d_determinant", 0.12, d_determinant), ("d_caller_relative", 0.09, d_caller_relative),
    ("d_le_drugs", 0.1, d_le_drugs),
]
