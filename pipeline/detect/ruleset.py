"""Load the versioned YAML rules into one immutable `Rules` value (validated, compiled once)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from pipeline.detect.text import TextRules, compile_text_rules
from pipeline.vocab import Category

RULES_DIR = Path(__file__).resolve().parent / "rules"
KINDS = {"code", "medication", "coded", "narrative", "call_type", "mpds"}
CODE_FIELDS = {"symptoms", "impressions", "injury"}
CODED_FIELDS = {"indicators", "protocols", "destination"}


class RulesError(ValueError):
    """A rules file is invalid; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    categories: tuple[Category, ...]
    description: str = ""
    fields: tuple[str, ...] = ()
    pattern: re.Pattern | None = None
    intents: frozenset[str] | None = None
    codes: frozenset[str] = frozenset()
    responses: frozenset[str] = frozenset()
    coded_field: str = ""
    unless_codes: re.Pattern | None = None
    unless_categories: frozenset[Category] = frozenset()
    requires_categories: frozenset[Category] = frozenset()
    all_of: tuple[frozenset[str], ...] = ()
    exclude_if_only: frozenset[str] = frozenset()
    naloxone_improved: bool = False
    pn_suppresses: frozenset[Category] = frozenset()
    agent_of: frozenset[str] = frozenset()
    other_agents: frozenset[str] = frozenset()
    same_sentence: bool = False
    near: int = 0
    unless_concepts: frozenset[str] = frozenset()
    cases: dict = field(default_factory=dict, compare=False)

    @property
    def deferred(self) -> bool:
        """Evaluated after the other rules, because it looks at categories already found."""
        return bool(self.unless_categories or self.requires_categories)


@dataclass(frozen=True)
class Implication:
    id: str
    when: frozenset[Category]
    unless: frozenset[Category]
    add: tuple[Category, ...]


@dataclass(frozen=True)
class Rules:
    name: str
    version: str
    run_rules: tuple[Rule, ...]
    incident_rules: tuple[Rule, ...]
    narrative_rules: tuple[Rule, ...]
    implications: tuple[Implication, ...]
    text: TextRules
    substance_concepts: frozenset[str]
    dead_codes: dict[str, frozenset[str]]
    contact_code: str
    run_plan: tuple = ()
    incident_plan: tuple = ()

    def all_rules(self) -> tuple[Rule, ...]:
        return self.run_rules + self.narrative_rules + self.incident_rules


def _categories(values, where: str) -> tuple[Category, ...]:
    try:
        return tuple(Category(v) for v in values)
    except ValueError as e:
        raise RulesError(f"{where}: {e}") from None


def _rule(spec: dict, where: str, concepts: set[str], code_sets: dict[str, str]) -> Rule:
    rid = spec.get("id") or ""
    where = f"{where} rule {rid or '?'}"
    kind = spec.get("kind", "narrative")
    if not rid or kind not in KINDS:
        raise RulesError(f"{where}: needs an id and a kind in {sorted(KINDS)}")
    fields = tuple(spec.get("fields", ()))
    if kind == "code" and (not fields or not set(fields) <= CODE_FIELDS):
        raise RulesError(f"{where}: fields must be a subset of {sorted(CODE_FIELDS)}")
    if kind == "coded" and spec.get("field") not in CODED_FIELDS:
        raise RulesError(f"{where}: field must be one of {sorted(CODED_FIELDS)}")
    groups = tuple(frozenset(g) for g in spec.get("all", ()))
    agent_of, other_agents = frozenset(spec.get("agent_of", ())), frozenset(spec.get("other_agents", ()))
    unless_concepts = frozenset(spec.get("unless_concepts", ()))
    unknown = ({c for g in groups for c in g} | agent_of | other_agents | unless_concepts) - concepts
    if unknown:
        raise RulesError(f"{where}: unknown concepts {sorted(unknown)}")
    if kind == "narrative" and not groups:
        raise RulesError(f"{where}: a narrative rule needs `all`")
    if spec.get("near") and len(groups) != 2:
        raise RulesError(f"{where}: `near` needs exactly two groups in `all`")
    try:
        pattern = re.compile(rf"(?:{spec['pattern']})") if "pattern" in spec else None
        names = spec.get("unless_code_sets", ())
        if set(names) - set(code_sets):
            raise RulesError(f"{where}: unknown code sets {sorted(set(names) - set(code_sets))}")
        unless_codes = re.compile("|".join(f"(?:{code_sets[n]})" for n in names)) if names else None
    except re.error as e:
        raise RulesError(f"{where}: bad pattern: {e}") from None
    intents = spec.get("intents")
    return Rule(
        id=rid, kind=kind, categories=_categories(spec.get("categories", ()), where),
        description=spec.get("description", ""), fields=fields, pattern=pattern,
        intents=frozenset("none" if i is None else str(i) for i in intents) if intents is not None else None,
        codes=frozenset(str(c) for c in spec.get("codes", spec.get("drugs", spec.get("types", ())))),
        responses=frozenset(str(r) for r in spec.get("responses", ())), coded_field=spec.get("field", ""),
        unless_codes=unless_codes,
        unless_categories=frozenset(_categories(spec.get("unless_categories", ()), where)),
        requires_categories=frozenset(_categories(spec.get("requires_categories", ()), where)),
        all_of=groups, exclude_if_only=frozenset(spec.get("exclude_if_only", ())),
        naloxone_improved=bool(spec.get("naloxone_improved", False)),
        pn_suppresses=frozenset(_categories(spec.get("pn_suppresses", ()), where)),
        agent_of=agent_of, other_agents=other_agents, same_sentence=bool(spec.get("same_sentence", False)),
        near=int(spec.get("near", 0)),
        unless_concepts=unless_concepts, cases=spec.get("cases") or {},
    )


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise RulesError(f"{path.name}: cannot read: {e}") from None
    if not isinstance(data, dict) or "version" not in data:
        raise RulesError(f"{path.name}: must be a mapping with a version")
    return data


def load_rules(path: str | Path | None = None) -> Rules:
    """Load a ruleset: `path` is the ruleset file (detect.yaml) or its directory; default the shipped rules."""
    root = Path(path) if path else RULES_DIR
    top_path = root / "detect.yaml" if root.is_dir() else root
    top = _load_yaml(top_path)
    digest = hashlib.sha256(top_path.read_bytes())
    files = {name: _load_yaml(top_path.parent / name) for name in top["files"]}
    for name in top["files"]:
        digest.update((top_path.parent / name).read_bytes())
    narrative = files.get("narrative.yaml") or next((f for f in files.values() if "terms" in f), None)
    if narrative is None:
        raise RulesError("the ruleset needs a file with narrative `terms` and `cues`")
    narrative["terms"] = {k: [str(t) for t in v] for k, v in narrative["terms"].items()}
    try:
        text = compile_text_rules(narrative)
    except (KeyError, ValueError, re.error) as e:
        raise RulesError(f"narrative terms/cues: {e}") from None
    concepts = set(narrative["terms"])
    code_sets = {str(k): str(v) for k, v in (top.get("code_sets") or {}).items()}
    run_rules, incident_rules, narrative_rules, seen = [], [], [], set()
    for name, data in files.items():
        for spec in data.get("rules", ()):
            rule = _rule(spec, name, concepts, code_sets)
            if rule.id in seen:
                raise RulesError(f"{name}: duplicate rule id {rule.id}")
            seen.add(rule.id)
            {"narrative": narrative_rules, "call_type": incident_rules, "mpds": incident_rules}.get(
                rule.kind, run_rules).append(rule)
    implications = tuple(
        Implication(i["id"], frozenset(_categories(i["if"], i["id"])),
                    frozenset(_categories(i.get("unless", ()), i["id"])), _categories(i["add"], i["id"]))
        for i in top.get("implies", ()))
    substance = frozenset(narrative.get("substance_concepts", ()))
    if not substance <= concepts:
        raise RulesError(f"substance_concepts: unknown {sorted(substance - concepts)}")
    return _planned(Rules(name=top.get("name", "detect"), version=f"{top['version']}+{digest.hexdigest()[:8]}",
                 run_rules=tuple(run_rules), incident_rules=tuple(incident_rules),
                 narrative_rules=tuple(narrative_rules), implications=implications, text=text,
                 substance_concepts=substance,
                 dead_codes={k: frozenset(str(c) for c in v) for k, v in top["death"].items()},
                 contact_code=str(top["contact"]["unit_disposition"])))


Plan = tuple[tuple[Rule, ...], tuple[Rule, ...], tuple[Rule, ...]]


def plan(candidates: tuple[Rule, ...]) -> Plan:
    """Evaluation order: plain rules; rules requiring categories; rules vetoed by categories (a rule
    vetoed by what another vetoed rule produces runs after it)."""
    first = tuple(r for r in candidates if not r.deferred)
    requiring = tuple(r for r in candidates if r.requires_categories and not r.unless_categories)
    later = [r for r in candidates if r.unless_categories]
    produced = {c for r in later for c in r.categories}
    return first, requiring, tuple(sorted(later, key=lambda r: bool(r.unless_categories & produced)))


def _planned(rules: Rules) -> Rules:
    return replace(rules, run_plan=plan(rules.run_rules + rules.narrative_rules),
                   incident_plan=plan(rules.incident_rules + rules.narrative_rules))
