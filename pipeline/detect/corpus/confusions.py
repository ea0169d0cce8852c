"""ePCR scenarios for the confusions of issue 18 (truth by the boundaries in scenarios.py).

- `lone_sign`: an overdose word or sign with no substance at all (a delusion of being poisoned, a
  food illness, an unresponsive patient with a medical cause): not an overdose.
- `bh_medical_cause`: agitation, confusion or hallucinations explained by a medical cause
  (hypoglycaemia, delirium from infection, post-ictal state, head injury, hypoxia, dementia, heat), in
  the narrative or only in the impression (`*coded_cause` phrases): not a behavioural-health crisis.
- `su_coded_only`: substance use carried only by eHistory.17 (the patient's own use, drug
  paraphernalia at the scene or a bystander's report of drug use) or by one ICD-10-CM code; the
  narrative is about something else. Alcohol containers or a bystander's report of drinking alone
  stay weak (not substance use).
"""
from __future__ import annotations

from pipeline.detect.corpus.build import code
from pipeline.detect.corpus.scenarios import BH, SU, Ctx, Out, _medical

DRUG_INDICATORS = ["3117003", "3117007", "3117009", "3117013", "3117015", "3117005"]
WEAK_ALCOHOL_INDICATORS = ["3117001", "3117017"]


def lone_sign(c: Ctx) -> Out:
    c.tags.add("lone_sign")
    if c.chance(0.5):
        f = {"dispatch_reason": c.rng.choice(["2301059", "2301079"]), "sex": c.sex,
             "impressions": [code(c.codes("psych"))] if c.chance(0.5) else [], "narrative": c.say("lone_sign_bh")}
        return f, {BH}, set()
    f = _medical(c)
    f["narrative"] = c.say("lone_sign_none")
    return f, set(), set()


def bh_medical_cause(c: Ctx) -> Out:
    imp, sym, key = c.codes("bh_medical")
    f = {"dispatch_reason": c.rng.choice(["2301085", "2301059", "2301079"]), "sex": c.sex,
         "impressions": [code(imp)] if c.chance(0.6) or key.endswith("coded_cause") else [], "symptoms": [code(sym)] if c.chance(0.5) else [],
         "narrative": c.say(key)}
    c.tags.add("bh_medical_cause")
    return f, set(), set()


def su_coded_only(c: Ctx) -> Out:
    f = _medical(c)
    c.tags.add("su_structured_only")
    if c.chance(0.2):
        f["indicators"] = [c.rng.choice(WEAK_ALCOHOL_INDICATORS)]
        return f, set(), set()
    if c.chance(0.5):
        f["indicators"] = [c.rng.choice(DRUG_INDICATORS)]
    else:
        f["impressions"] = f["impressions"] + [code(c.codes("su_code"))]
    return f, {SU}, set()


CONFUSION_SCENARIOS = [
    ("lone_sign", 0.05, lone_sign), ("bh_medical_cause", 0.05, bh_medical_cause),
    ("su_coded_only", 0.05, su_coded_only),
]
