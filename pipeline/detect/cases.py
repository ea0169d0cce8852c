"""Each rule's own cases (its `cases: {fire: [...], not_fire: [...]}` in the YAML) as small records,
run through the engine: what `handoff config validate rules` and the rule-case tests check.

A case is a compact spec: a narrative string, or {symptoms, impressions, injury, indicators,
protocols, medications, destination, narrative} for an EMS run, {call_type, mpds, narrative} for
a CAD incident (rules of kind call_type and mpds).
"""
from __future__ import annotations

from datetime import datetime, timezone

from pipeline.detect.engine import classify_incident, classify_run
from pipeline.detect.ruleset import Rule, Rules
from pipeline.records import Coded, DispatchIncident, EmsDisposition, EmsRun, Envelope, IncidentKey, Medication

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
KEY = IncidentKey(dispatch_centre="psap-north", incident_number="N1")


def envelope(record_id: str = "PCR-1") -> Envelope:
    return Envelope(event_id=f"test:{record_id}:1", source_system="nemsis:test", source_record_id=record_id,
                    occurred_at=T0, ingested_at=T0, correlation_id="corr-1")


def _coded(values) -> list[Coded]:
    out = []
    for v in values or []:
        out.append(Coded(code=v["code"], pn=v.get("pn", "")) if isinstance(v, dict) else Coded(code=str(v)))
    return out


def run_from(case: dict | str, **extra) -> EmsRun:
    case = {"narrative": case} if isinstance(case, str) else dict(case)
    symptoms, impressions = _coded(case.get("symptoms")), _coded(case.get("impressions"))
    meds = [Medication(drug=Coded(code=str(m.get("drug", "")), pn=m.get("pn", "")), response=m.get("response", ""))
            for m in case.get("medications", [])]
    extra.setdefault("disposition", EmsDisposition(destination_type=Coded(code=case.get("destination", ""))))
    return EmsRun(
        envelope=envelope(), key=KEY, agency_id="ems-012", pcr_number="PCR-1",
        primary_symptom=symptoms[0] if symptoms else Coded(), other_symptoms=symptoms[1:],
        primary_impression=impressions[0] if impressions else Coded(), secondary_impressions=impressions[1:],
        injury_causes=_coded(case.get("injury")), alcohol_drug_indicators=_coded(case.get("indicators")),
        protocols=_coded(case.get("protocols")), medications=meds,
        narrative=case.get("narrative", ""), **extra)


def incident_from(case: dict | str, **extra) -> DispatchIncident:
    case = {"narrative": case} if isinstance(case, str) else dict(case)
    return DispatchIncident(envelope=envelope("CAD-1"), key=KEY, call_type=case.get("call_type", ""),
                            mpds_determinant=case.get("mpds", ""), narrative=case.get("narrative", ""), **extra)


def fired(rule: Rule, case, rules: Rules) -> bool:
    """Does `rule` fire on `case` (evaluated with the whole ruleset, as in production)?"""
    if rule.kind in ("call_type", "mpds"):
        detection = classify_incident(incident_from(case), rules)
    else:
        detection = classify_run(run_from(case), rules)
    return rule.id in {e.rule_id for e in detection.evidence}


def failing_cases(rules: Rules) -> list[str]:
    """One line per rule without cases both ways, and per case that does not do what it says."""
    out = []
    for rule in rules.all_rules():
        if not rule.cases.get("fire") or not rule.cases.get("not_fire"):
            out.append(f"rule {rule.id} needs cases that fire and cases that do not")
        for expect in ("fire", "not_fire"):
            for n, case in enumerate(rule.cases.get(expect) or [], 1):
                try:
                    got = fired(rule, case, rules)
                except (TypeError, ValueError, KeyError, AttributeError) as e:
                    out.append(f"rule {rule.id} {expect} case {n} cannot be read ({type(e).__name__})")
                    continue
                if got != (expect == "fire"):
                    out.append(f"rule {rule.id} {'does not fire' if expect == 'fire' else 'fires'} on its "
                               f"{expect.replace('_', ' ')} case {n}")
    return out
