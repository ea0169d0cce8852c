"""Corpus scenarios: each draws the facts of one call from a phrase bank and states its truth.

The truth is decided here, by the category boundaries of issue 7, never by the rules:
`overdose` any suspected drug overdose or poisoning (alcohol alone excluded), `opioid_overdose`
its opioid subset, `substance_use` the person's own use is part of the encounter,
`behavioral_health` a mental-health crisis (substance use alone is not), `suicide_risk`
ideation, threat or attempt. A self-harm ingestion is overdose + suicide_risk +
behavioral_health, and substance_use only when recreational use is also present.

Weak eHistory.17 indicators (containers/paraphernalia seen, bystander reports) alone do not make
`substance_use`; the patient's own admission, a known level or an exam finding do.
"""
from __future__ import annotations

import random
from typing import Callable

from pipeline.detect.corpus.build import NALOXONE, code, med

OD, OPI, SU, BH, SUI = "overdose", "opioid_overdose", "substance_use", "behavioral_health", "suicide_risk"
GIVEN_BY = ["9905045", "9905047", "9905049"]
Out = tuple[dict, set[str], set[str]]


class Ctx:
    """The random source, the bank and the slots of one record."""

    def __init__(self, rng: random.Random, bank: dict) -> None:
        self.rng, self.bank, self.tags = rng, bank, set()
        self.linked: dict | None = None
        male = rng.random() < 0.6
        self.slots = {
            "age": str(rng.randint(16, 78)), "sex": "male" if male else "female",
            "he": "he" if male else "she", "his": "his" if male else "her", "him": "him" if male else "her",
            "He": "He" if male else "She", "His": "His" if male else "Her", "mf": "M" if male else "F",
            "dose": rng.choice(["2", "4", "0.4", "1", "2", "4"]), "count": str(rng.randint(10, 60)),
            "gluc": str(rng.randint(22, 48)), "finder": rng.choice(bank["words"]["finder"]),
            "other": rng.choice(bank["words"]["other_person"]), "route": rng.choice(bank["words"]["route"]),
        }
        self.sex = "M" if male else "F"

    def word(self, kind: str, alt_p: float = 0.3) -> str:
        words = self.bank["words"]
        if f"{kind}_alt" in words and self.rng.random() < alt_p:
            self.tags.add("misspelling_abbreviation")
            return self.rng.choice(words[f"{kind}_alt"])
        return self.rng.choice(words[kind])

    def say(self, key: str, **extra: str) -> str:
        return self.rng.choice(self.bank["phr"][key]).format(**{**self.slots, **extra})

    def codes(self, key: str):
        return self.rng.choice(self.bank["codes"][key])

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


def _nal(c: Ctx, response: str = "9916001") -> dict:
    c.slots["nal"] = c.word("naloxone")
    prior = c.chance(0.4)
    return {"medications": [med(NALOXONE, response, prior, c.rng.choice(GIVEN_BY) if prior else "")]}


def opioid_od(c: Ctx) -> Out:
    c.slots["drug"] = c.word("opioid")
    f = {"dispatch_reason": c.rng.choice(["2301053", "2301077", "2301079", "2301053"]), "sex": c.sex,
         "protocols": ["9914219"] if c.chance(0.4) else []}
    mode = c.rng.random()
    if mode < 0.45:
        f["impressions"] = [code(c.codes("opioid_od"))]
    elif mode < 0.75:
        f["impressions"] = [code(c.codes("od_nonspecific"))]
    if c.chance(0.55):
        f.update(_nal(c, c.rng.choice(["9916001", "9916001", ""])))
    else:
        c.slots["nal"] = c.word("naloxone")
    if c.chance(0.3):
        f["indicators"] = [c.rng.choice(["3117003", "3117007", "3117015"])]
    text = c.say("opioid_od")
    if c.chance(0.3):
        f.update(transport="4230009", refusal=["4231001"], care="4228003")
        text += " " + c.say("refusal_addon")
        c.tags.add("refusal_of_transport")
    f["narrative"] = text
    return f, {OD, OPI, SU}, set()


def fatal_od(c: Ctx) -> Out:
    opioid = c.chance(0.7)
    c.slots["drug"] = c.word("opioid" if opioid else "stimulant")
    c.slots["nal"] = c.word("naloxone")
    f = {"died": c.rng.choice(["acuity", "final_nr", "arrest"]), "transport": "4230013", "sex": c.sex,
         "impressions": [code(c.codes("fatal"))], "dispatch_reason": c.rng.choice(["2301079", "2301077", "2301053"])}
    if c.chance(0.35):
        f["impressions"].append(code(c.codes("opioid_od" if opioid else "stim_od")))
    if opioid and c.chance(0.4):
        f["medications"] = [med(NALOXONE, "9916003", True, c.rng.choice(GIVEN_BY))]
    f["narrative"] = c.say("fatal_od")
    c.tags.add("fatal_overdose")
    return f, ({OD, OPI, SU} if opioid else {OD, SU}), set()


def stim_od(c: Ctx) -> Out:
    c.slots["drug"] = c.word("stimulant")
    f = {"dispatch_reason": c.rng.choice(["2301053", "2301079", "2301095"]), "sex": c.sex,
         "protocols": ["9914225"] if c.chance(0.4) else []}
    if c.chance(0.6):
        f["impressions"] = [code(c.codes("stim_od"))]
    f["narrative"] = c.say("stim_od")
    c.tags.add("stimulants")
    return f, {OD, SU}, set()


def stim_intox(c: Ctx) -> Out:
    c.slots["drug"] = c.word("stimulant")
    f = {"dispatch_reason": c.rng.choice(["2301095", "2301059", "2301097"]), "sex": c.sex,
         "impressions": [code(c.codes("stim_intox"))] if c.chance(0.6) else [],
         "symptoms": [code(c.rng.choice(["R45.1", "R46.3", "R45.0"]))] if c.chance(0.5) else []}
    if c.chance(0.4):
        f["indicators"] = ["3117007"]
    f["narrative"] = c.say("stim_intox")
    c.tags.add("stimulants")
    return f, {SU}, set()


def alcohol(c: Ctx) -> Out:
    c.slots["alc"] = c.word("alcohol")
    f = {"dispatch_reason": c.rng.choice(["2301095", "2301077", "2301079"]), "sex": c.sex,
         "impressions": [code(c.codes("alcohol"))] if c.chance(0.6) else [],
         "indicators": c.rng.sample(["3117001", "3117005", "3117013", "3117017"], k=c.rng.randint(0, 2))}
    text = c.say("alcohol")
    if c.chance(0.25):
        f.update(transport="4230009", refusal=["4231001"], care="4228003")
        text += " " + c.say("refusal_addon")
        c.tags.add("refusal_of_transport")
    f["narrative"] = text
    c.tags.add("alcohol_only")
    return f, {SU}, set()


def withdrawal(c: Ctx) -> Out:
    c.slots["drug"] = c.word("opioid")
    c.slots["alc"] = c.word("alcohol")
    f = {"dispatch_reason": c.rng.choice(["2301079", "2301085"]), "sex": c.sex,
         "impressions": [code(c.codes("withdrawal"))] if c.chance(0.6) else []}
    f["narrative"] = c.say("withdrawal")
    return f, {SU}, set()


def intentional(c: Ctx) -> Out:
    icd, pills, opioid = c.codes("intentional")
    c.slots["pills"] = c.rng.choice(c.bank["words"][pills])
    f = {"dispatch_reason": c.rng.choice(["2301053", "2301059"]), "sex": c.sex,
         "destination": c.rng.choice(["4221031", ""]), "protocols": ["9914135"] if c.chance(0.3) else []}
    f["impressions"] = [code(icd)] if c.chance(0.6) else []
    if c.chance(0.3):
        f.setdefault("impressions", []).append(code("R45.851"))
    truth = {OD, SUI, BH} | ({OPI} if opioid else set())
    text = c.say("intentional")
    if c.chance(0.3):
        c.slots["drug"] = c.word("street")
        text += " " + c.say("recreational_addon")
        truth.add(SU)
    f["narrative"] = text
    c.tags.add("intentional_ingestion")
    return f, truth, set()


def psych(c: Ctx) -> Out:
    f = {"dispatch_reason": c.rng.choice(["2301059", "2301059", "2301097"]), "sex": c.sex,
         "destination": c.rng.choice(["4221031", "", "4221031"])}
    if c.chance(0.65):
        f["impressions"] = [code(c.codes("psych"))]
    text = c.say("psych")
    if c.chance(0.45):
        text += " " + c.say("neg_substance_addon")
        c.tags.add("negation")
    f["narrative"] = text
    c.tags.add("psychiatric_no_substance")
    return f, {BH}, set()


def suicidal(c: Ctx) -> Out:
    f = {"dispatch_reason": c.rng.choice(["2301059", "2301097", "2301079"]), "sex": c.sex,
         "destination": c.rng.choice(["4221031", ""])}
    kind = c.rng.random()
    if kind < 0.45:
        if c.chance(0.5):
            f["impressions"] = [code("R45.851")]
        text = c.say("si")
    else:
        imp, inj = c.codes("attempt")
        if c.chance(0.55):
            f["impressions"], f["injury"] = [code(imp)], ([inj] if inj else [])
        text = c.say("attempt")
    truth = {BH, SUI}
    if c.chance(0.2):
        c.slots["alc"] = c.word("alcohol")
        text += " " + c.say("alcohol_addon")
        f["indicators"] = ["3117005"]
        truth.add(SU)
    elif c.chance(0.3):
        text += " " + c.say("neg_substance_addon")
        c.tags.add("negation")
    f["narrative"] = text
    if SU not in truth:
        c.tags.add("psychiatric_no_substance")
    return f, truth, set()


def fatal_suicide(c: Ctx) -> Out:
    imp, inj = c.codes("attempt")
    f = {"died": c.rng.choice(["acuity", "final", "arrest"]), "transport": "4230013", "sex": c.sex,
         "dispatch_reason": c.rng.choice(["2301059", "2301093", "2301079"]),
         "impressions": [code(imp)] if c.chance(0.5) else [code("R99")], "injury": [inj] if inj else [],
         "indicators": ["3117001", "3117017"] if c.chance(0.3) else []}
    f["narrative"] = c.say("fatal_suicide")
    return f, {BH, SUI}, set()


def _medical(c: Ctx) -> dict:
    imp, sym, template = c.codes("medical")
    return {"dispatch_reason": c.rng.choice(["2301079", "2301085", "2301075"]), "sex": c.sex,
            "impressions": [code(imp)], "symptoms": [code(sym)] if sym else [],
            "narrative": template.format(**c.slots)}


def medical_negation(c: Ctx) -> Out:
    f = _medical(c)
    f["narrative"] += " " + c.say("neg_addon")
    if c.chance(0.3):
        f["symptoms"] = f.get("symptoms", []) + [code("R45.851", pn="8801031")]
    c.tags.add("negation")
    return f, set(), set()


def _medical_with(c: Ctx, addon: str, tag: str) -> Out:
    """A medical call whose narrative mentions drugs or crises that are not this patient's now."""
    c.slots["drug"] = c.word("opioid", 0.2)
    f = _medical(c)
    f["narrative"] += " " + c.say(addon)
    c.tags.add(tag)
    return f, set(), set()


def medical_history(c: Ctx) -> Out:
    return _medical_with(c, "hist_addon", "history")


def third_party(c: Ctx) -> Out:
    return _medical_with(c, "third_addon", "third_party")


def medical_plain(c: Ctx) -> Out:
    f = _medical(c)
    if c.chance(0.15):
        f.update(transport="4230009", refusal=["4231001"], care="4228003")
        f["narrative"] += " " + c.say("refusal_addon")
        c.tags.add("refusal_of_transport")
    return f, set(), set()


def naloxone_nonresponse(c: Ctx) -> Out:
    c.slots["nal"] = c.word("naloxone")
    imp = c.codes("hypo") if c.chance(0.55) else c.codes("ams_other")
    f = {"dispatch_reason": c.rng.choice(["2301085", "2301077", "2301079"]), "sex": c.sex,
         "impressions": [code(imp)]}
    shape = c.rng.random()
    if shape < 0.4:
        f["medications"] = [med(NALOXONE, "9916003"), med("4850", "9916001", route="9927023")]
    elif shape < 0.7:
        f["medications"] = [med(NALOXONE, ""), med("4832", "9916001", route="9927015")]
    else:
        f["medications"] = [med(NALOXONE, pn=c.rng.choice(["8801001", "8801027", "8801031"])),
                            med("4850", "9916001", route="9927023")]
    key = "hypo" if imp.startswith("E") else "nal_other"
    f["narrative"] = c.say(key)
    c.tags.add("naloxone_not_proof")
    return f, set(), set()


def peds_poison(c: Ctx) -> Out:
    c.slots["pills"] = c.rng.choice(c.bank["words"]["rx_pills"])
    f = {"dispatch_reason": "2301053", "age": c.rng.randint(1, 5), "sex": c.sex,
         "impressions": [code(c.codes("peds"))] if c.chance(0.5) else []}
    f["narrative"] = c.say("peds")
    return f, {OD}, set()


def alcohol_si(c: Ctx) -> Out:
    c.slots["alc"] = c.word("alcohol")
    f = {"dispatch_reason": c.rng.choice(["2301059", "2301095"]), "sex": c.sex,
         "impressions": [code(c.rng.choice(["R45.851", "F10.92"]))] if c.chance(0.5) else [],
         "indicators": ["3117005"] if c.chance(0.5) else []}
    f["narrative"] = c.say("alcohol_si")
    return f, {SU, BH, SUI}, set()


def psych_dispatch_medical(c: Ctx) -> Out:
    f = _medical(c)
    f["dispatch_reason"] = "2301059"
    f["narrative"] = c.say("psych_dispatch_medical") + " " + f["narrative"]
    return f, set(), set()


def od_linked(c: Ctx) -> Out:
    """A sparse PCR whose overdose is told by the linked CAD incident's notes (dispatch context)."""
    c.slots["drug"] = c.word("opioid")
    c.slots["nal"] = c.word("naloxone")
    f = {"dispatch_reason": "2301053", "sex": c.sex, "transport": "4230009", "refusal": ["4231001"],
         "care": "4228003", "medications": [med(NALOXONE, "", True, "9905047")],
         "narrative": c.say("linked_run")}
    c.tags.add("refusal_of_transport")
    c.linked = {"call_type": "OD", "mpds": c.rng.choice(c.bank["codes"]["mpds_od"]), "narrative": c.say("d_opioid").upper()}
    return f, {OD, OPI, SU}, set()


def cancelled(c: Ctx) -> Out:
    f = {"dispatch_reason": c.rng.choice(["2301053", "2301059"]), "unit_disposition": c.rng.choice(["4227005", "4227007"]),
         "transport": "4230013", "care": "4228009", "narrative": c.say("cancelled"), "acuity": "2813001"}
    return f, set(), set()


RUN_SCENARIOS: list[tuple[str, float, Callable[[Ctx], Out]]] = [
    ("opioid_od", 0.13, opioid_od), ("fatal_od", 0.04, fatal_od), ("stim_od", 0.035, stim_od),
    ("stim_intox", 0.035, stim_intox), ("alcohol", 0.07, alcohol), ("withdrawal", 0.03, withdrawal),
    ("intentional", 0.06, intentional), ("psych", 0.07, psych), ("suicidal", 0.07, suicidal),
    ("fatal_suicide", 0.02, fatal_suicide), ("medical_negation", 0.07, medical_negation),
    ("medical_history", 0.05, medical_history), ("third_party", 0.05, third_party),
    ("medical_plain", 0.12, medical_plain), ("naloxone_nonresponse", 0.05, naloxone_nonresponse),
    ("peds_poison", 0.015, peds_poison), ("alcohol_si", 0.02, alcohol_si),
    ("psych_dispatch_medical", 0.02, psych_dispatch_medical), ("cancelled", 0.015, cancelled),
    ("od_linked", 0.02, od_linked),
]
