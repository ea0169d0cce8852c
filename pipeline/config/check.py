"""`validate`: is a candidate version fit to install? It loads (the kind's schema), then checks it
against the versions in force of the other kinds, then runs its own tests.

    found = validate(bundle, in_force)   # Findings: errors (refuse) and warnings (say, allow)

Errors: a rule whose cases fail; a policy test that fails (or a policy without its tests); a
service the routing rules ask for, or a provider offers, that the policy gives no data category
(its information would pass as general); two providers with one id. Warnings: a service asked
for that no accepting provider offers; a category detected that no routing need uses, or that
the policy does not classify.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.bundle import Bundle, ConfigError, Materialised, load_path
from pipeline.consent.policytest import CaseError, load_cases, run_case
from pipeline.detect.cases import failing_cases


@dataclass
class Findings:
    value: Any = None  # the loaded candidate (None when it does not load)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was run, in words ("192 rule cases pass")

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.errors


def validate(bundle: Bundle, in_force: dict[str, Any]) -> Findings:
    """`in_force`: {kind: loaded value} of the other kinds, the candidate's references are checked against."""
    found = Findings()
    with Materialised(bundle) as m:
        try:
            found.value = load_path(bundle.kind, m.entry)
        except ConfigError as e:
            found.errors.append(str(e))
            return found
        found.checked.append(f"{bundle.entry} loads: version {found.value.version}")
        world = {**in_force, bundle.kind: found.value}
        CHECKS[bundle.kind](found, world, m.entry)
    return found


def _produced(rules) -> set[str]:
    """Every category the detection rules can report."""
    return {c.value for rule in rules.all_rules() for c in rule.categories} | \
        {c.value for i in rules.implications for c in i.add}


def _asked(routing) -> set:
    return {s for need in routing.needs for s in need.services}


def _services_classified(found: Findings, services, policy, who: str) -> None:
    for service in sorted(services, key=str):
        if service not in policy.service_data:
            found.errors.append(f"{who} {service.value}, which consent policy {policy.version} gives no data "
                                "category (its information would pass as general)")


def _categories_used(found: Findings, rules, routing, policy) -> None:
    used = {c for need in routing.needs for c in need.when}
    classified = {c.value for c in policy.category_data}
    for category in sorted(_produced(rules)):
        if category not in used:
            found.warnings.append(f"detection rules report {category}, which no routing need uses "
                                  "(detected, never referred)")
        if category not in classified:
            found.warnings.append(f"detection rules report {category}, which consent policy {policy.version} "
                                  "does not classify")


def _offered(found: Findings, routing, directory) -> None:
    offered = {s for p in directory.providers if p.accepting for s in p.services}
    for service in sorted(_asked(routing) - offered, key=str):
        found.warnings.append(f"routing asks for {service.value}, which no accepting provider in directory "
                              f"{directory.version} offers (such requests stay unrouted)")
    crisis = [p for p in directory.providers if routing.emergency_service in p.services
              and (p.co_responder or not routing.emergency_co_responder_only)]
    if not crisis:
        found.warnings.append(f"no provider in directory {directory.version} can take a dispatch-time "
                              f"{routing.emergency_service.value} alert")


def _check_rules(found: Findings, world: dict, entry: Path) -> None:
    rules = world["rules"]
    failing = failing_cases(rules)
    found.errors += failing
    total = sum(len(r.cases.get(k) or []) for r in rules.all_rules() for k in ("fire", "not_fire"))
    found.checked.append(f"{total - len(failing)} of {total} rule cases pass ({len(rules.all_rules())} rules)")
    _categories_used(found, rules, world["routing"], world["policy"])


def _check_routing(found: Findings, world: dict, entry: Path) -> None:
    routing, policy = world["routing"], world["policy"]
    _services_classified(found, _asked(routing) | {routing.emergency_service}, policy, "routing asks for")
    _offered(found, routing, world["directory"])
    produced = _produced(world["rules"])
    for need in routing.needs:
        unknown = {c for c in need.when if c not in produced and c != "homeless"}
        if unknown:
            found.warnings.append(f"need {need.id} waits for {', '.join(sorted(unknown))}, which detection rules "
                                  f"{world['rules'].version} never report")
    found.checked.append(f"{len(routing.needs)} needs checked against directory {world['directory'].version} "
                         f"and policy {policy.version}")


def _check_directory(found: Findings, world: dict, entry: Path) -> None:
    directory = world["directory"]
    ids = [p.id for p in directory.providers]
    for twice in sorted({i for i in ids if ids.count(i) > 1}):
        found.errors.append(f"provider {twice} is listed twice (one id, one provider)")
    for p in directory.providers:
        _services_classified(found, p.services - set(world["policy"].service_data), world["policy"],
                             f"provider {p.id} offers")
    _offered(found, world["routing"], directory)
    found.checked.append(f"{len(directory.providers)} providers checked against routing {world['routing'].version} "
                         f"and policy {world['policy'].version}")


def _check_policy(found: Findings, world: dict, entry: Path) -> None:
    policy = world["policy"]
    _services_classified(found, _asked(world["routing"]), policy, "routing asks for")
    _categories_used(found, world["rules"], world["routing"], policy)
    tests = entry.with_name(f"{entry.stem}-tests.yaml")
    if not tests.exists():
        found.errors.append(f"{entry.name}: no policy tests beside it ({tests.name}): a policy version is "
                            "installed with the disclosure questions it answers")
        return
    try:
        cases = load_cases(tests, policy)
    except CaseError as e:
        found.errors.append(" ".join(str(e).split()))
        return
    results = [run_case(case, policy) for case in cases]
    failed = [res for res in results if not res.passed]
    found.errors += [f"policy test {res.case.name} fails: expected {'; '.join(res.failures)}" for res in failed]
    found.checked.append(f"{len(results) - len(failed)} of {len(results)} policy tests pass ({tests.name})")


CHECKS = {"rules": _check_rules, "routing": _check_routing, "directory": _check_directory, "policy": _check_policy}
