"""Detection: explainable overdose and behavioural-health rules (issue 7).

    rules = load_rules()                       # the shipped, versioned YAML rules
    detection = classify_run(run, rules)       # EmsRun -> Detection (optionally dispatch=incident)
    detection = classify_incident(inc, rules)  # DispatchIncident -> Detection
"""
from pipeline.detect.engine import classify_incident, classify_run
from pipeline.detect.ruleset import Rules, RulesError, load_rules

__all__ = ["Rules", "RulesError", "classify_incident", "classify_run", "load_rules"]
