"""The consent policy file (policy.yaml): loaded once, validated against the vocabularies.

    policy = load_policy()                       # the sample policy beside this module
    policy = load_policy(Path("site/policy.yaml"))

A policy that names a basis, variant, purpose, data category or source type outside the
vocabularies is refused at load (PolicyError), so a typo fails at start-up, not at a decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline import records as r
from pipeline.vocab import Basis, Category, DataCategory, Purpose, Service, Variant

SAMPLE_POLICY = Path(__file__).resolve().parent / "policy.yaml"
SOURCE_TYPES = ("covered-entity", "law-enforcement", "part2-programme")
RECIPIENT_TYPES = ("health-care-provider", "other", "law-enforcement")
CONSENT_BASES = frozenset({Basis.PART2_CONSENT, Basis.HIPAA_AUTHORIZATION})
VARIANT_ORDER = (Variant.FULL, Variant.NO_SUD, Variant.OUTREACH_ONLY)  # widest first


class PolicyError(ValueError):
    """The policy file is not usable; the message names the rule and the field."""


@dataclass(frozen=True)
class Grant:
    basis: Basis
    variant: Variant


@dataclass(frozen=True)
class Rule:
    id: str
    sources: frozenset[str]
    recipients: frozenset[str]
    purposes: frozenset[Purpose]
    data: frozenset[DataCategory]
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class SourceMatch:
    type: str
    referring_agency: frozenset[str] = frozenset()
    pathway: frozenset[str] = frozenset()
    source_system: tuple[str, ...] = ()

    def matches(self, request: r.Referral) -> bool:
        tests = []
        if self.referring_agency:
            tests.append(request.referring_agency in self.referring_agency)
        if self.pathway:
            tests.append(request.pathway.value in self.pathway)
        if self.source_system:
            tests.append(request.envelope.source_system.startswith(self.source_system))
        return bool(tests) and all(tests)


@dataclass(frozen=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    sources: tuple[SourceMatch, ...]
    default_source: str
    category_data: dict[Category, DataCategory]
    service_data: dict[Service, DataCategory]
    variant_content: dict[Variant, frozenset[DataCategory]]
    notice_text: str
    notice_short: str

    def source_type(self, request: r.Referral) -> str:
        return next((s.type for s in self.sources if s.matches(request)), self.default_source)

    def data_categories(self, request: r.Referral) -> frozenset[DataCategory]:
        """What the request reveals: always `general`, plus its categories' and service's."""
        found = {DataCategory.GENERAL, self.service_data.get(request.service, DataCategory.GENERAL)}
        found |= {self.category_data[c] for c in request.categories if c in self.category_data}
        return frozenset(found)

    def rules_for(self, source: str, recipient: str, purpose: Purpose) -> list[Rule]:
        return [rule for rule in self.rules
                if source in rule.sources and recipient in rule.recipients and purpose in rule.purposes]


def load_policy(path: Path = SAMPLE_POLICY) -> Policy:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"{path.name}: cannot read: {type(e).__name__}") from None
    return parse_policy(data, path.name)


def parse_policy(data: dict, name: str = "policy") -> Policy:
    if not isinstance(data, dict) or "version" not in data or "rules" not in data:
        raise PolicyError(f"{name}: needs `version` and `rules`")

    def enum(kind, value, where):
        try:
            return kind(value)
        except ValueError:
            raise PolicyError(f"{name}: {where}: {value!r} is not a {kind.__name__}") from None

    def one_of(value, allowed, where):
        if value not in allowed:
            raise PolicyError(f"{name}: {where}: {value!r} is not one of {', '.join(allowed)}")
        return value

    rules = []
    for i, raw in enumerate(data["rules"]):
        rid = str(raw.get("id") or f"rule {i + 1}")
        missing = [k for k in ("source", "recipient", "purpose", "data", "permit") if not raw.get(k)]
        if missing:
            raise PolicyError(f"{name}: {rid}: missing {', '.join(missing)}")
        rules.append(Rule(
            id=rid,
            sources=frozenset(one_of(s, SOURCE_TYPES, f"{rid}.source") for s in raw["source"]),
            recipients=frozenset(one_of(t, RECIPIENT_TYPES, f"{rid}.recipient") for t in raw["recipient"]),
            purposes=frozenset(enum(Purpose, p, f"{rid}.purpose") for p in raw["purpose"]),
            data=frozenset(enum(DataCategory, d, f"{rid}.data") for d in raw["data"]),
            grants=tuple(Grant(enum(Basis, g["basis"], f"{rid}.permit"), enum(Variant, g["variant"], f"{rid}.permit"))
                         for g in raw["permit"])))
        if any(g.basis == Basis.NONE for g in rules[-1].grants):
            raise PolicyError(f"{name}: {rid}: basis `none` cannot permit")
    sources = tuple(SourceMatch(
        type=one_of(s["type"], SOURCE_TYPES, "sources"),
        referring_agency=frozenset(s.get("referring_agency", [])), pathway=frozenset(s.get("pathway", [])),
        source_system=tuple(s.get("source_system", []))) for s in data.get("sources", []))
    cats = data.get("data_categories", {})
    variants = {enum(Variant, v, "variants"): frozenset(enum(DataCategory, d, f"variants.{v}") for d in content)
                for v, content in data.get("variants", {}).items()}
    if set(variants) != set(Variant):
        raise PolicyError(f"{name}: variants must describe each of {', '.join(v.value for v in Variant)}")
    notice = data.get("part2_notice") or {}
    notice_text = " ".join(str(notice.get("text") or "").split())
    if not notice_text:  # a blank notice would send Part 2 content without it
        raise PolicyError(f"{name}: part2_notice.text is required and must not be blank (42 CFR 2.32)")
    return Policy(
        version=str(data["version"]), rules=tuple(rules), sources=sources,
        default_source=one_of(data.get("default_source", "part2-programme"), SOURCE_TYPES, "default_source"),
        category_data={enum(Category, k, "data_categories"): enum(DataCategory, v, "data_categories")
                       for k, v in cats.get("categories", {}).items()},
        service_data={enum(Service, k, "data_categories"): enum(DataCategory, v, "data_categories")
                      for k, v in cats.get("services", {}).items()},
        variant_content=variants, notice_text=notice_text,
        notice_short=notice.get("short", ""))
