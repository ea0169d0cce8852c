"""The baselines the rules must beat: codes-only NEMSIS definitions and naive keywords.

The codes-only NEMSIS baseline: the TAC case definitions of DOMAIN.md §2, nothing else.

It is what a programme gets from the national definitions alone, and what the rules must beat.
- opioid overdose (TAC 2025): (A) eSituation.09, .10 without PN, .11 or .12 fully matches the opioid
  pattern, or (B) a naloxone (7242, 203192, 197117) with response improved  -> opioid_overdose, overdose
- behavioural health (TAC): a symptom/impression matches the BH pattern, or eInjury.01 the self-harm
  part -> behavioral_health; its self-harm part (T14.91, intent-2 T codes, X71-X83) and the ideation
  code R45.851 -> suicide_risk; its F10-F19 part -> substance_use; its intent-2 T36-T50 part -> overdose.
CAD incidents carry no NEMSIS codes: the baseline finds nothing there.
"""
from __future__ import annotations

import re

from pipeline.records import EmsRun
from pipeline.vocab import Category

OPIOID = re.compile(r"^(F11.*|T40\.[0-3]X?[1-4]?A?|T40\.4.?[1-4]?A?|T40\.6[09]?[1-4]?A?)$")
BEHAVIORAL = re.compile(r"^(F.*|R45.*|R46.*|T14\.91|T(3[6-9]|[4-6][0-9]|7[0-1])\.(..|9)2.*|X(7[1-9]|8[0-3]).*)$")
SELF_HARM = re.compile(r"^(T14\.91|T(3[6-9]|[4-6][0-9]|7[0-1])\.(..|9)2.*|X(7[1-9]|8[0-3]).*|R45\.851)$")
SELF_POISONING = re.compile(r"^T(3[6-9]|4[0-9]|50)\.(..|9)2.*$")
SUBSTANCE = re.compile(r"^F1[0-9].*$")
NALOXONE = {"7242", "203192", "197117"}
IMPROVED = "9916001"


def _codes(run: EmsRun) -> list[str]:
    values = [run.primary_symptom] + [s for s in run.other_symptoms if not s.pn]
    values += [run.primary_impression, *run.secondary_impressions]
    return [v.code.strip().upper() for v in values if v.code and not v.pn]


def baseline_run(run: EmsRun) -> set[Category]:
    codes = _codes(run)
    injury = [c.code.strip().upper() for c in run.injury_causes if c.code]
    found: set[Category] = set()
    if any(OPIOID.match(c) for c in codes) or any(
            m.drug.code in NALOXONE and not m.drug.pn and m.response == IMPROVED for m in run.medications):
        found |= {Category.OPIOID_OVERDOSE, Category.OVERDOSE}
    if any(BEHAVIORAL.match(c) for c in codes) or any(SELF_HARM.match(c) for c in injury):
        found.add(Category.BEHAVIORAL_HEALTH)
    if any(SELF_HARM.match(c) for c in codes + injury):
        found.add(Category.SUICIDE_RISK)
    if any(SUBSTANCE.match(c) for c in codes):
        found.add(Category.SUBSTANCE_USE)
    if any(SELF_POISONING.match(c) for c in codes):
        found.add(Category.OVERDOSE)
    return found


# The naive keyword baseline: a category when any of its words appears anywhere in the narrative (the
# PCR's, the linked CAD incident's, the incident's own), with no negation, history, other-person or
# source context. It is what a keyword search gives, and what the context rules must beat.
KEYWORDS = {
    Category.OVERDOSE: r"overdos\w*|o\.?d\.?|od'?d|poison\w*|ingest\w*|narcan|naloxone|unresponsive",
    Category.OPIOID_OVERDOSE: r"heroin|fentanyl|opioids?|opiates?|oxycodone|percocets?|methadone|narcan|naloxone",
    Category.SUBSTANCE_USE: r"drugs?|alcohol|etoh|drunk|intoxicated|heroin|fentanyl|cocaine|crack|meth\w*|"
                            r"marijuana|opioids?|opiates?|withdrawal|detox|narcotics",
    Category.BEHAVIORAL_HEALTH: r"psych\w*|mental|suicid\w*|depress\w*|anxiety|panic|paranoi\w*|hallucinat\w*|"
                                r"bipolar|schizo\w*|voices|crisis|edp",
    Category.SUICIDE_RISK: r"suicid\w*|kill (?:him|her|my|them)self|wants? to die|si|self[- ]harm|"
                           r"end (?:his|her|my|their) life",
}
_KEYWORDS = {c: re.compile(rf"(?<![a-z0-9])(?:{words})(?![a-z0-9])", re.I) for c, words in KEYWORDS.items()}


def keyword_baseline(*narratives: str) -> set[Category]:
    text = "\n".join(n for n in narratives if n)
    return {c for c, pattern in _KEYWORDS.items() if pattern.search(text)}
