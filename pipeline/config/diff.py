"""`diff`: what a new version changes, in words a programme lead reads.

    lines = describe("routing", current, candidate)   # ["Need N-X added: ...", ...]

Rules and needs are compared by id; providers by their directory id; a policy by its rules, its
restrictions, how it classifies information, and what it answers: every policy test (the
current version's and the new one's) asked of both, each answer that changes named.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.config.bundle import Bundle, Materialised
from pipeline.consent.policytest import CaseError, load_cases, run_case


def describe(kind: str, old_value: Any, new_value: Any, old_bundle: Bundle | None = None,
             new_bundle: Bundle | None = None) -> list[str]:
    """The changes, one sentence each; the first line names both versions."""
    head = [f"{kind}: {old_value.version} -> {new_value.version}"]
    lines = DESCRIBE[kind](old_value, new_value, old_bundle, new_bundle)
    return head + (lines or ["no change in what it does"])


def _words(values) -> str:
    return ", ".join(sorted(str(getattr(v, "value", v)) for v in values)) or "nothing"


def _changed(old: dict, new: dict, what: str, name=lambda k, v: k, show=lambda v: "") -> list[str]:
    out = []
    for key in sorted(set(new) - set(old)):
        out.append(f"{what} {name(key, new[key])} added{show(new[key])}")
    for key in sorted(set(old) - set(new)):
        out.append(f"{what} {name(key, old[key])} removed{show(old[key])}")
    return out


# ---------------------------------------------------------------- detection rules

def _rule_specs(bundle: Bundle | None) -> tuple[dict[str, dict], dict]:
    """{rule id: its YAML spec} and the narrative terms, from a ruleset bundle's files."""
    specs, terms = {}, {}
    for name, text in (bundle.files if bundle else ()):
        data = yaml.safe_load(text) or {}
        for spec in data.get("rules", []) if isinstance(data, dict) else []:
            specs[str(spec.get("id"))] = spec
        if isinstance(data, dict) and "terms" in data:
            terms = {k: sorted(map(str, v)) for k, v in data["terms"].items()}
    return specs, terms


def _rules(old, new, old_bundle, new_bundle) -> list[str]:
    old_specs, old_terms = _rule_specs(old_bundle)
    new_specs, new_terms = _rule_specs(new_bundle)

    def show(spec: dict) -> str:
        return f": finds {_words(spec.get('categories', []))}" + (f" ({spec['description']})"
                                                                  if spec.get("description") else "")
    out = _changed(old_specs, new_specs, "Rule", show=show)
    for rid in sorted(set(old_specs) & set(new_specs)):
        a, b = old_specs[rid], new_specs[rid]
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if not keys:
            continue
        if set(keys) == {"cases"}:
            out.append(f"Rule {rid}: only its test cases changed")
            continue
        said = f"Rule {rid} changed ({', '.join(k for k in keys if k != 'cases')})"
        if a.get("categories") != b.get("categories"):
            said += f": finds {_words(b.get('categories', []))} instead of {_words(a.get('categories', []))}"
        out.append(said)
    for concept in sorted(set(old_terms) | set(new_terms)):
        gained = sorted(set(new_terms.get(concept, [])) - set(old_terms.get(concept, [])))
        lost = sorted(set(old_terms.get(concept, [])) - set(new_terms.get(concept, [])))
        if gained:
            out.append(f"Words for {concept} added: {', '.join(gained)}")
        if lost:
            out.append(f"Words for {concept} removed: {', '.join(lost)}")
    before = {i.id: i for i in old.implications}
    after = {i.id: i for i in new.implications}
    out += _changed(before, after, "Implication",
                    show=lambda i: f": {_words(i.when)} also means {_words(i.add)}")
    out += [f"Implication {i} changed" for i in sorted(set(before) & set(after)) if before[i] != after[i]]
    return out


# ---------------------------------------------------------------- routing rules

def _routing(old, new, *_) -> list[str]:
    def show(need) -> str:
        unless = f" (unless {_words(need.unless)})" if need.unless else ""
        return f": {_words(need.when)}{unless} asks for {_words(need.services)}"
    before, after = {n.id: n for n in old.needs}, {n.id: n for n in new.needs}
    out = _changed(before, after, "Need", show=show)
    for nid in sorted(set(before) & set(after)):
        a, b = before[nid], after[nid]
        if a.services != b.services:
            out.append(f"Need {nid} now asks for {_words(b.services)} (was {_words(a.services)})")
        if (a.when, a.unless) != (b.when, b.unless):
            out.append(f"Need {nid} now applies to {show(b)[2:].split(' asks')[0]} (was {show(a)[2:].split(' asks')[0]})")
    if old.fan_out != new.fan_out:
        out.append(f"Each request now goes to {new.fan_out} recipient(s) at once (was {old.fan_out})")
    for group in sorted(set(old.eligibility) | set(new.eligibility)):
        if old.eligibility.get(group) != new.eligibility.get(group):
            out.append(f"Eligibility '{group}' is now {new.eligibility.get(group, 'gone')} "
                       f"(was {old.eligibility.get(group, 'absent')})")
    pairs = (("follow_up_hours_required", "Follow-up referrals only to providers open at the time"),
             ("emergency_hours_required", "Dispatch-time alerts only to teams on duty"),
             ("emergency_co_responder_only", "Dispatch-time alerts only to co-responder teams"))
    for attr, words in pairs:
        if getattr(old, attr) != getattr(new, attr):
            out.append(f"{words}: {'yes' if getattr(new, attr) else 'no'} (was {'yes' if getattr(old, attr) else 'no'})")
    if old.emergency_categories != new.emergency_categories or old.emergency_service != new.emergency_service:
        out.append(f"Dispatch-time alerts for {_words(new.emergency_categories)} to "
                   f"{new.emergency_service.value} (was {_words(old.emergency_categories)} to "
                   f"{old.emergency_service.value})")
    return out


# ---------------------------------------------------------------- directory

def areas(provider) -> list[str]:
    """A provider's service area in words: county names (else FIPS codes), ZIP codes, boundaries."""
    out = []
    for keys in provider.counties:
        names = sorted(k[5:] for k in keys if k.startswith("name:"))
        out.append(f"{names[0].title()} County" if names else next(iter(sorted(keys))))
    out += [f"ZIP {z}" for z in sorted(provider.zips)]
    out += [f"{len(provider.polygons)} boundary polygon(s)"] if provider.polygons else []
    return out or ["any area"]


def hours(provider) -> str:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return "; ".join(f"{','.join(d for d in days if d in h.days)} {h.start:%H:%M}-{h.end:%H:%M}"
                     for h in provider.hours) or "any time"


def _directory(old, new, *_) -> list[str]:
    before, after = {p.id: p for p in old.providers}, {p.id: p for p in new.providers}
    out = _changed(before, after, "Provider", name=lambda k, p: f"{p.name} ({k})",
                   show=lambda p: f": {_words(p.services)} in {', '.join(areas(p))}, {hours(p)}")
    for pid in sorted(set(before) & set(after)):
        a, b, who = before[pid], after[pid], f"{after[pid].name} ({pid})"
        if a.services != b.services:
            gained, lost = b.services - a.services, a.services - b.services
            out.append(f"{who}: " + "; ".join(([f"now offers {_words(gained)}"] if gained else [])
                                              + ([f"no longer offers {_words(lost)}"] if lost else [])))
        if areas(a) != areas(b):
            gained, lost = set(areas(b)) - set(areas(a)), set(areas(a)) - set(areas(b))
            out.append(f"{who}: " + "; ".join(([f"now serves {', '.join(sorted(gained))}"] if gained else [])
                                              + ([f"no longer serves {', '.join(sorted(lost))}"] if lost else [])))
        if a.hours != b.hours:
            out.append(f"{who}: hours now {hours(b)} (were {hours(a)})")
        if a.accepting != b.accepting:
            out.append(f"{who}: {'accepts referrals again' if b.accepting else 'no longer accepts referrals'}")
        if a.endpoint != b.endpoint:
            out.append(f"{who}: referrals now go to {b.endpoint.kind} {b.endpoint.address} "
                       f"(was {a.endpoint.kind} {a.endpoint.address})")
        for attr, words in (("capacity", "capacity"), ("eligibility", "eligibility"), ("languages", "languages"),
                            ("co_responder", "co-responder"), ("part2_programme", "a Part 2 programme"),
                            ("health_care_provider", "a health care provider"),
                            ("law_enforcement", "law enforcement")):
            x, y = getattr(a, attr), getattr(b, attr)
            if x != y:
                show = (lambda v: _words(v)) if isinstance(y, frozenset) else (lambda v: str(v).lower())
                out.append(f"{who}: {words} now {show(y)} (was {show(x)})")
    return out


# ---------------------------------------------------------------- consent policy

def _tests(bundle: Bundle | None, policy) -> list:
    if bundle is None:
        return []
    with Materialised(bundle) as m:
        tests = m.entry.with_name(f"{m.entry.stem}-tests.yaml")
        try:
            return load_cases(tests, policy) if tests.exists() else []
        except CaseError:
            return []


def answer(decision) -> str:
    variant = f" ({decision.variant.value})" if decision.variant else ""
    return f"{decision.outcome.value}{variant}"


def outcome_changes(old, new, old_bundle: Bundle | None, new_bundle: Bundle | None) -> list[tuple[str, str, str]]:
    """(case name, old answer, new answer) for each policy test answered differently."""
    cases = {c.name: c for c in _tests(old_bundle, old)}
    cases.update({c.name: c for c in _tests(new_bundle, new)})
    out = []
    for name, case in sorted(cases.items()):
        a, b = run_case(case, old).decision, run_case(case, new).decision
        if (a.outcome, a.variant, a.basis) != (b.outcome, b.variant, b.basis):
            out.append((name, f"{answer(a)} on {a.basis.value}", f"{answer(b)} on {b.basis.value}"))
    return out


def _policy(old, new, old_bundle, new_bundle) -> list[str]:
    def show(rule) -> str:
        grants = ", ".join(f"{g.basis.value} ({g.variant.value})" for g in rule.grants)
        return (f": {_words(rule.sources)} to {_words(rule.recipients)} for {_words(rule.purposes)}, "
                f"{_words(rule.data)} information, on {grants}")
    before, after = {r.id: r for r in old.rules}, {r.id: r for r in new.rules}
    out = _changed(before, after, "Policy rule", show=show)
    out += [f"Policy rule {rid} now reads{show(after[rid])} (was{show(before[rid])})"
            for rid in sorted(set(before) & set(after)) if before[rid] != after[rid]]
    xb, xa = {x.id: x for x in old.restrictions}, {x.id: x for x in new.restrictions}
    out += _changed(xb, xa, "Restriction", show=lambda x: f": {_words(x.data)} only on {_words(x.only)}")
    out += [f"Restriction {i} changed" for i in sorted(set(xb) & set(xa)) if xb[i] != xa[i]]
    for label, a, b in (("category", old.category_data, new.category_data),
                        ("service", old.service_data, new.service_data)):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                out.append(f"Information about {label} {key.value} is now "
                           f"{getattr(b.get(key), 'value', 'unclassified')} (was {getattr(a.get(key), 'value', 'unclassified')})")
    if old.ages != new.ages:
        out.append("Age rules changed (who signs for a minor)")
    if old.notice_text != new.notice_text:
        out.append("The Part 2 notice text changed")
    out += [f"Policy test {name}: {a} -> {b}" for name, a, b in outcome_changes(old, new, old_bundle, new_bundle)]
    return out


DESCRIBE = {"rules": _rules, "routing": _routing, "directory": _directory, "policy": _policy}
