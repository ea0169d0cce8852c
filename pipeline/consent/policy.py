"""The consent policy file (policy.yaml): loaded once, validated against the vocabularies.

    policy = load_policy()                       # the sample policy beside this module
    policy = load_policy(Path("site/policy.yaml"))

A policy that names a basis, variant, purpose, data category, source role or recipient type
outside the vocabularies is refused at load (PolicyError), so a typo fails at start-up, not at
a decision. A layer (a state's rules) is a file with `extends: <base file>`: its rules and
restrictions are added to the base's, its `age_rules` override the base's key by key, and its
version is appended to the base's (`2026-03-14.1+il-2026-01`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline import records as r
from pipeline.vocab import Basis, Category, DataCategory, Purpose, Service, SourceRole, Variant

SAMPLE_POLICY = Path(__file__).resolve().parent / "policy.yaml"
SOURCE_TYPES = tuple(role.value for role in SourceRole)
RECIPIENT_TYPES = ("health-care-provider", "other", "law-enforcement", "co-responder", "public-health-authority")
REPORTER_TYPES = ("part2-programme", "health-care-provider", "other")
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
    except_recipients: frozenset[str] = frozenset()  # a recipient of any of these types matches no grant here


@dataclass(frozen=True)
class Restriction:
    """A layer's limit (a state rule): these categories, where it applies, only these bases."""

    id: str
    data: frozenset[DataCategory]
    only: frozenset[Basis]
    sources: frozenset[str] = frozenset()  # empty: any
    recipients: frozenset[str] = frozenset()
    purposes: frozenset[Purpose] = frozenset()

    def forbids(self, source: str, recipient_types: frozenset[str], purpose: Purpose, category: DataCategory,
                basis: Basis) -> bool:
        return (category in self.data and basis not in self.only
                and (not self.sources or source in self.sources)
                and (not self.recipients or bool(recipient_types & self.recipients))
                and (not self.purposes or purpose in self.purposes))


@dataclass(frozen=True)
class AgeRules:
    """Who signs for a minor (policy data; a state layer overrides it)."""

    adult_at: int = 18
    # 42 CFR 2.14: from this age state law lets a minor consent to SUD treatment alone, and then only
    # the minor may consent to disclosure (2.14(b)); below it, the minor and a parent or guardian
    # both sign (2.14(c)). None: state law never lets a minor consent alone.
    part2_minor_consents_from: int | None = None
    # 45 CFR 164.502(g)(3): by the data category of the service, the age from which a minor may
    # lawfully consent to that care and so acts for themselves; otherwise a parent, guardian or
    # personal representative signs the authorisation.
    hipaa_minor_consents_from: dict[DataCategory, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusRules:
    """Status flowing back (item 8): a recipient's report is its own disclosure, decided with the
    reporter as the source, for this purpose."""

    purpose: Purpose
    reporter_roles: dict[str, SourceRole]


@dataclass(frozen=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    default_source: str
    category_data: dict[Category, DataCategory]
    service_data: dict[Service, DataCategory]
    variant_content: dict[Variant, frozenset[DataCategory]]
    notice_text: str
    notice_short: str
    restrictions: tuple[Restriction, ...] = ()
    ages: AgeRules = AgeRules()
    status: StatusRules = StatusRules(Purpose.CARE_COORDINATION, {})
    alert_content: tuple[str, ...] = ()
    alert_data: frozenset[DataCategory] = frozenset({DataCategory.GENERAL})  # an alert never carries more

    def source_type(self, request: r.ReferralRequest) -> str:
        """The request's source role (from the agency registry, via the edges); unknown: the default."""
        return request.source_role.value if request.source_role else self.default_source

    def data_categories(self, request: r.ReferralRequest) -> frozenset[DataCategory]:
        """What the request reveals: always `general`, plus its categories' and service's."""
        found = {DataCategory.GENERAL, self.service_category(request.service)}
        found |= {self.category_data[c] for c in request.categories if c in self.category_data}
        return frozenset(found)

    def service_category(self, service: Service) -> DataCategory:
        return self.service_data.get(service, DataCategory.GENERAL)

    def rules_for(self, source: str, recipient_types: frozenset[str] | str, purpose: Purpose) -> list[Rule]:
        types = frozenset({recipient_types}) if isinstance(recipient_types, str) else recipient_types
        return [rule for rule in self.rules
                if source in rule.sources and types & rule.recipients and not types & rule.except_recipients
                and purpose in rule.purposes]

    def restricted(self, source: str, recipient_types: frozenset[str], purpose: Purpose, category: DataCategory,
                   basis: Basis) -> Restriction | None:
        return next((x for x in self.restrictions if x.forbids(source, recipient_types, purpose, category, basis)),
                    None)


def load_policy(path: Path = SAMPLE_POLICY) -> Policy:
    return parse_policy(_read(path, set()), path.name)


def _read(path: Path, seen: set[Path]) -> dict:
    """The file's data with its `extends` chain folded in (base first)."""
    path = path.resolve()
    if path in seen:
        raise PolicyError(f"{path.name}: `extends` loops back to itself")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"{path.name}: cannot read: {type(e).__name__}") from None
    if not isinstance(data, dict) or "extends" not in data:
        return data
    base = _read(path.parent / str(data["extends"]), seen | {path})
    if "version" not in data:
        raise PolicyError(f"{path.name}: a layer needs its own `version`")
    merged = {**base, **{k: v for k, v in data.items() if k not in ("extends", "rules", "restrictions", "age_rules")}}
    merged["version"] = f"{base.get('version')}+{data['version']}"
    merged["rules"] = list(base.get("rules", [])) + list(data.get("rules", []))
    merged["restrictions"] = list(base.get("restrictions", [])) + list(data.get("restrictions", []))
    ages = dict(base.get("age_rules") or {})
    for law, values in (data.get("age_rules") or {}).items():
        ages[law] = {**ages.get(law, {}), **values} if isinstance(values, dict) else values
    merged["age_rules"] = ages
    return merged


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
                         for g in raw["permit"]),
            except_recipients=frozenset(one_of(t, RECIPIENT_TYPES, f"{rid}.except_recipient")
                                        for t in raw.get("except_recipient", []))))
        if any(g.basis == Basis.NONE for g in rules[-1].grants):
            raise PolicyError(f"{name}: {rid}: basis `none` cannot permit")
    if len({rule.id for rule in rules}) != len(rules):
        raise PolicyError(f"{name}: rule ids must be unique (a layer adds rules, it does not replace them)")
    restrictions = []
    for i, raw in enumerate(data.get("restrictions") or []):
        xid = str(raw.get("id") or f"restriction {i + 1}")
        if not raw.get("data") or not raw.get("only"):
            raise PolicyError(f"{name}: {xid}: needs `data` and `only`")
        restrictions.append(Restriction(
            id=xid, data=frozenset(enum(DataCategory, d, f"{xid}.data") for d in raw["data"]),
            only=frozenset(enum(Basis, b, f"{xid}.only") for b in raw["only"]),
            sources=frozenset(one_of(s, SOURCE_TYPES, f"{xid}.source") for s in raw.get("source", [])),
            recipients=frozenset(one_of(t, RECIPIENT_TYPES, f"{xid}.recipient") for t in raw.get("recipient", [])),
            purposes=frozenset(enum(Purpose, p, f"{xid}.purpose") for p in raw.get("purpose", []))))
    cats = data.get("data_categories", {})
    variants = {enum(Variant, v, "variants"): frozenset(enum(DataCategory, d, f"variants.{v}") for d in content)
                for v, content in data.get("variants", {}).items()}
    if set(variants) != set(Variant):
        raise PolicyError(f"{name}: variants must describe each of {', '.join(v.value for v in Variant)}")
    notice = data.get("part2_notice") or {}
    notice_text = " ".join(str(notice.get("text") or "").split())
    if not notice_text:  # a blank notice would send Part 2 content without it
        raise PolicyError(f"{name}: part2_notice.text is required and must not be blank (42 CFR 2.32)")
    status = data.get("status") or {}
    return Policy(
        version=str(data["version"]), rules=tuple(rules),
        default_source=one_of(data.get("default_source", "part2-programme"), SOURCE_TYPES, "default_source"),
        category_data={enum(Category, k, "data_categories"): enum(DataCategory, v, "data_categories")
                       for k, v in cats.get("categories", {}).items()},
        service_data={enum(Service, k, "data_categories"): enum(DataCategory, v, "data_categories")
                      for k, v in cats.get("services", {}).items()},
        variant_content=variants, notice_text=notice_text,
        notice_short=notice.get("short", ""), restrictions=tuple(restrictions),
        ages=_ages(data.get("age_rules") or {}, name),
        status=StatusRules(
            purpose=enum(Purpose, status.get("purpose", "care-coordination"), "status.purpose"),
            reporter_roles={one_of(k, REPORTER_TYPES, "status.reporter_roles"):
                            enum(SourceRole, v, "status.reporter_roles")
                            for k, v in (status.get("reporter_roles") or {}).items()}),
        alert_content=tuple(str(x) for x in (data.get("dispatch_alert") or {}).get("content", [])),
        alert_data=frozenset(enum(DataCategory, d, "dispatch_alert.data")
                             for d in (data.get("dispatch_alert") or {}).get("data", ["general"])))


def _ages(raw: dict, name: str) -> AgeRules:
    def age(value, where):
        if value is None:
            return None
        if not isinstance(value, int) or not 0 <= value <= 21:
            raise PolicyError(f"{name}: age_rules.{where}: {value!r} is not an age in years")
        return value

    part2, hipaa = raw.get("part2") or {}, raw.get("hipaa") or {}
    try:
        by_category = {DataCategory(k): age(v, f"hipaa.{k}")
                       for k, v in (hipaa.get("minor_consents_from") or {}).items() if v is not None}
    except ValueError as e:
        raise PolicyError(f"{name}: age_rules.hipaa.minor_consents_from: {e}") from None
    return AgeRules(adult_at=age(raw.get("adult_at", 18), "adult_at"),
                    part2_minor_consents_from=age(part2.get("minor_consents_from"), "part2.minor_consents_from"),
                    hipaa_minor_consents_from=by_category)
