"""The detection engine: pure functions from a source record and `Rules` to a `Detection`.

Structured elements first (ICD-10-CM, naloxone with response, eHistory.17, protocols,
destination), then the narrative; a structured pertinent negative wins over the text (a PN
naloxone was not given, a PN symptom is absent). Rules that look at categories already found
(`requires_categories`, `unless_categories`) run after the others; implications run last.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.detect.ruleset import Plan, Rule, Rules
from pipeline.detect.text import Mention, mentions
from pipeline.records import Coded, Detection, DispatchIncident, EmsRun, Envelope, Evidence, SourceRef
from pipeline.vocab import Category

ORDER = {c: i for i, c in enumerate(Category)}
NARRATIVE_FIELD = "eNarrative.01"


@dataclass(frozen=True, slots=True)
class Item:
    """One coded value of a run: where it came from (NEMSIS element) and its code."""

    field: str
    code: str
    pn: bool = False


@dataclass
class Facts:
    """What the rules look at, extracted once from a record."""

    codes: dict[str, list[Item]]
    coded: dict[str, list[Item]]
    medications: list[tuple[str, str, bool]]  # (drug, response, pertinent negative)
    mentions: list[Mention]
    call_type: str = ""
    mpds: str = ""

    def __post_init__(self) -> None:
        self.asserted = [m for m in self.mentions if m.status == "asserted"]
        self.concepts = frozenset(m.concept for m in self.asserted)
        self.any_code = any(self.codes.values())


def _items(field: str, values: list[Coded]) -> list[Item]:
    return [Item(field, v.code.strip().upper(), bool(v.pn)) for v in values if v.code and not v.nil]


def run_facts(run: EmsRun, rules: Rules, dispatch: DispatchIncident | None = None) -> Facts:
    text = mentions(rules.text, run.narrative, NARRATIVE_FIELD)
    if dispatch is not None:
        text += mentions(rules.text, dispatch.narrative, "dispatch.narrative", dispatch=True)
    d = run.disposition
    return Facts(
        codes={
            "symptoms": _items("eSituation.09", [run.primary_symptom]) + _items("eSituation.10", run.other_symptoms),
            "impressions": _items("eSituation.11", [run.primary_impression])
            + _items("eSituation.12", run.secondary_impressions),
            "injury": _items("eInjury.01", run.injury_causes),
        },
        coded={
            "indicators": _items("eHistory.17", run.alcohol_drug_indicators),
            "protocols": _items("eProtocols.01", run.protocols),
            "destination": _items("eDisposition.21", [d.destination_type]),
        },
        medications=[(m.drug.code.strip(), m.response, bool(m.drug.pn)) for m in run.medications],
        mentions=text,
    )


def incident_facts(incident: DispatchIncident, rules: Rules) -> Facts:
    return Facts(codes={}, coded={}, medications=[],
                 mentions=mentions(rules.text, incident.narrative, "narrative", dispatch=True),
                 call_type=incident.call_type.strip().upper(), mpds=determinant(incident.mpds_determinant))


_MPDS = re.compile(r"(\d{1,2})-?([A-EO])-?(\d{1,2})-?([A-Z]?)")


def determinant(text: str) -> str:
    """An MPDS determinant in one form whatever the CAD printed: 23-C-01I, 23C1I and 23 C 1 I -> 23C1I."""
    compact = "".join(text.split()).upper().replace("Ω", "O")
    m = _MPDS.fullmatch(compact)
    if not m:
        return compact.replace("-", "")
    protocol, level, number, suffix = m.groups()
    return f"{int(protocol)}{level}{int(number)}{suffix}"


def _intent(code: str) -> str:
    """The 6th character of a T36-T71 code (intent), or 'none' when the code stops earlier."""
    tail = code.split(".", 1)[1] if "." in code else ""
    return tail[2] if len(tail) >= 3 and tail[2].isdigit() else "none"


def _code_hits(rule: Rule, facts: Facts, include_pn: bool = False) -> list[Item]:
    assert rule.pattern is not None
    hits = []
    for name in rule.fields:
        for item in facts.codes.get(name, ()):
            if item.pn != include_pn or not rule.pattern.fullmatch(item.code):
                continue
            if rule.intents is not None and _intent(item.code) not in rule.intents:
                continue
            hits.append(item)
    return hits


def _narrative_hits(rule: Rule, facts: Facts, rules: Rules, naloxone_pn: bool) -> list[Mention]:
    asserted = facts.asserted
    if not asserted:
        return []
    if rule.exclude_if_only:
        kinds = {m.concept for m in asserted}
        if kinds & rule.exclude_if_only and not kinds & rules.substance_concepts:
            return []
    found: list[Mention] = []
    for group in rule.all_of:
        hits = [m for m in asserted if m.concept in group]
        if rule.naloxone_improved:
            hits = [] if naloxone_pn else [m for m in hits if m.improved]
        if rule.agent_of:
            hits = _agents(rule, asserted, hits)
        if not hits:
            return []
        found.extend(hits)
    if rule.near:
        return _near(found, rule.all_of, rule.near)
    if rule.same_sentence:
        return _together(found, rule.all_of)
    return found


def _near(found: list[Mention], all_of: tuple[frozenset[str], ...], chars: int) -> list[Mention]:
    """Pairs where a mention of the second group starts within `chars` after one of the first ends."""
    firsts = [m for m in found if m.concept in all_of[0]]
    seconds = [m for m in found if m.concept in all_of[1]]
    pairs = [(a, b) for a in firsts for b in seconds if a.field == b.field and 0 <= b.start - a.end <= chars]
    return [m for pair in pairs for m in pair]


def _together(found: list[Mention], all_of: tuple[frozenset[str], ...]) -> list[Mention]:
    """The mentions of sentences in which every group has a mention (same field)."""
    where: dict[tuple[str, int], set[int]] = {}
    for m in found:
        for i, group in enumerate(all_of):
            if m.concept in group:
                where.setdefault((m.field, m.sentence), set()).add(i)
    full = {spot for spot, seen in where.items() if len(seen) == len(all_of)}
    return [m for m in found if (m.field, m.sentence) in full]


def _agents(rule: Rule, asserted: list[Mention], hits: list[Mention]) -> list[Mention]:
    """Mentions named as the agent of an overdose: in an overdose sentence, else when no other agent is."""
    od = {(m.field, m.sentence) for m in asserted if m.concept in rule.agent_of}
    named = [m for m in hits if (m.field, m.sentence) in od]
    if named:
        return named
    others = any((m.field, m.sentence) in od for m in asserted if m.concept in rule.other_agents)
    return [] if others else hits


def _fire(rule: Rule, facts: Facts, rules: Rules, found: set[Category], naloxone_pn: bool) -> list[Evidence]:
    if rule.kind == "narrative" and not all(facts.concepts.intersection(g) for g in rule.all_of):
        return []  # the cheap test first: some group has no asserted mention at all
    if rule.kind == "code" and not facts.any_code:
        return []
    if rule.requires_categories - found or rule.unless_categories & found:
        return []
    if rule.unless_concepts and not facts.concepts.isdisjoint(rule.unless_concepts):
        return []
    if rule.unless_codes is not None and any(
            rule.unless_codes.fullmatch(i.code) for items in facts.codes.values() for i in items if not i.pn):
        return []
    spots: list[tuple[str, str, int | None, int | None]] = []
    if rule.kind == "code":
        spots = [(i.field, i.code, None, None) for i in _code_hits(rule, facts)]
    elif rule.kind == "medication":
        spots = [("eMedications.03", drug, None, None) for drug, response, pn in facts.medications
                 if drug in rule.codes and not pn and response in rule.responses]
    elif rule.kind == "coded":
        spots = [(i.field, i.code, None, None) for i in facts.coded.get(rule.coded_field, ()) if i.code in rule.codes]
    elif rule.kind == "call_type":
        spots = [("call_type", facts.call_type, None, None)] if facts.call_type in rule.codes else []
    elif rule.kind == "mpds":
        assert rule.pattern is not None
        spots = [("mpds_determinant", facts.mpds, None, None)] if facts.mpds and rule.pattern.fullmatch(facts.mpds) else []
    else:
        spots = [(m.field, m.concept, m.start, m.end) for m in _narrative_hits(rule, facts, rules, naloxone_pn)]
    return [Evidence(category=c, rule_id=rule.id, field=f, code=code, start=s, end=e)
            for c in rule.categories for f, code, s, e in spots]


def _suppressed(rules: Rules, facts: Facts) -> set[Category]:
    """Categories a structured pertinent negative rules out of the narrative."""
    out: set[Category] = set()
    for rule in rules.run_rules:
        if rule.kind == "code" and rule.pn_suppresses and _code_hits(rule, facts, include_pn=True):
            out |= rule.pn_suppresses
    return out


def evaluate(rules: Rules, facts: Facts, plan: Plan) -> tuple[list[Category], list[Evidence]]:
    """Run the rules on extracted facts; returns (categories in vocabulary order, evidence)."""
    suppressed = _suppressed(rules, facts)
    naloxone_pn = any(pn for _, _, pn in facts.medications)
    evidence: list[Evidence] = []
    found: set[Category] = set()

    def run(rule: Rule) -> None:
        for ev in _fire(rule, facts, rules, found, naloxone_pn):
            if rule.kind == "narrative" and ev.category in suppressed:
                continue
            evidence.append(ev)
            found.add(ev.category)

    first, requiring, later = plan
    for rule in first:
        run(rule)
    for rule in requiring:
        run(rule)
    _imply(rules, found, evidence)
    for rule in later:
        run(rule)
    _imply(rules, found, evidence)
    return sorted(found, key=ORDER.__getitem__), evidence


def _imply(rules: Rules, found: set[Category], evidence: list[Evidence]) -> None:
    for imp in rules.implications:
        if imp.when <= found and not imp.unless & found:
            for c in imp.add:
                if c not in found:
                    found.add(c)
                    evidence.append(Evidence(category=c, rule_id=imp.id, field="categories",
                                             code="+".join(sorted(imp.when))))


def _envelope(src: Envelope, rules: Rules) -> Envelope:
    return src.model_copy(update={
        "event_id": f"detect:{src.event_id}:{rules.version}", "source_system": "handoff:detect"})


def _died(run: EmsRun, rules: Rules) -> bool:
    values = {"situation_acuity": run.situation_acuity.code, "final_acuity": run.disposition.final_acuity.code,
              "arrest_outcome": run.arrest_outcome.code}
    return any(values.get(k, "") in codes for k, codes in rules.dead_codes.items())


def classify_run(run: EmsRun, rules: Rules, dispatch: DispatchIncident | None = None) -> Detection:
    """Classify one EMS run (optionally reading its linked CAD incident's narrative)."""
    categories, evidence = evaluate(rules, run_facts(run, rules, dispatch), rules.run_plan)
    contact = run.disposition.unit_disposition.code
    return Detection(
        envelope=_envelope(run.envelope, rules), key=run.key,
        subject=SourceRef(topic="ems.run", record_id=run.envelope.source_record_id, version=run.envelope.source_record_version),
        categories=categories, evidence=evidence, rules_version=rules.version,
        patient_contact=(not contact) or contact == rules.contact_code, patient_died=_died(run, rules))


def classify_incident(incident: DispatchIncident, rules: Rules) -> Detection:
    """Classify one CAD incident by call type, MPDS determinant and narrative."""
    categories, evidence = evaluate(rules, incident_facts(incident, rules), rules.incident_plan)
    return Detection(
        envelope=_envelope(incident.envelope, rules), key=incident.key,
        subject=SourceRef(topic="dispatch.incident", record_id=incident.envelope.source_record_id,
                          version=incident.envelope.source_record_version),
        categories=categories, evidence=evidence, rules_version=rules.version)
