"""Measure the rules and the codes-only baseline on the labelled corpus (tuning and held-out parts).

Prints precision, recall and F1 per category, side by side, and the confusion cases (record id,
scenario, missed and extra categories; never narrative text).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pipeline.detect.baseline import baseline_run
from pipeline.detect.engine import classify_incident, classify_run
from pipeline.detect.ruleset import Rules
from pipeline.records import DispatchIncident, EmsRun
from pipeline.vocab import Category

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "detect"
PARTS = {"tuning": "corpus.jsonl", "held-out": "heldout.jsonl"}


@dataclass(frozen=True)
class Labelled:
    record: EmsRun | DispatchIncident
    truth: frozenset[Category]
    scenario: str
    dispatch: DispatchIncident | None = None


@dataclass
class Score:
    tp: Counter = field(default_factory=Counter)
    fp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    cases: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)

    def add(self, record_id: str, scenario: str, truth: set[Category], got: set[Category]) -> None:
        for c in Category:
            if c in truth and c in got:
                self.tp[c] += 1
            elif c in got:
                self.fp[c] += 1
            elif c in truth:
                self.fn[c] += 1
        if truth != got:
            self.cases.append((record_id, scenario, sorted(c.value for c in truth - got),
                               sorted(c.value for c in got - truth)))

    def prf(self, c: Category) -> tuple[float, float, float]:
        tp, fp, fn = self.tp[c], self.fp[c], self.fn[c]
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def read_corpus(path: Path) -> Iterator[Labelled]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            model = EmsRun if row["record_type"] == "ems.run" else DispatchIncident
            dispatch = DispatchIncident.model_validate(row["dispatch"]) if row.get("dispatch") else None
            yield Labelled(model.model_validate(row["record"]), frozenset(Category(c) for c in row["truth"]),
                           row.get("scenario", ""), dispatch)


def rules_classifier(rules: Rules) -> Callable[[Labelled], set[Category]]:
    def classify(item: Labelled) -> set[Category]:
        if isinstance(item.record, EmsRun):
            return set(classify_run(item.record, rules, item.dispatch).categories)
        return set(classify_incident(item.record, rules).categories)
    return classify


def baseline_classifier(item: Labelled) -> set[Category]:
    return baseline_run(item.record) if isinstance(item.record, EmsRun) else set()


def score(items: Iterable[Labelled], classify: Callable[[Labelled], set[Category]]) -> Score:
    result = Score()
    for item in items:
        rid = item.record.envelope.source_record_id
        result.add(rid, item.scenario, set(item.truth), classify(item))
    return result


def report(name: str, rules_score: Score, base_score: Score, cases: int) -> list[str]:
    out = [f"== {name}", f"{'category':<20} {'rules P':>8} {'R':>6} {'F1':>6}   {'baseline P':>10} {'R':>6} {'F1':>6}  support"]
    for c in Category:
        p, r, f = rules_score.prf(c)
        bp, br, bf = base_score.prf(c)
        support = rules_score.tp[c] + rules_score.fn[c]
        out.append(f"{c.value:<20} {p:>8.3f} {r:>6.3f} {f:>6.3f}   {bp:>10.3f} {br:>6.3f} {bf:>6.3f}  {support}")
    out.append(f"confusion cases (rules): {len(rules_score.cases)}; baseline: {len(base_score.cases)}")
    by_kind = Counter((s, tuple(m), tuple(x)) for _, s, m, x in rules_score.cases)
    for (scenario, missed, extra), n in by_kind.most_common(cases):
        out.append(f"  {n:>4} x {scenario:<24} missed={list(missed)} extra={list(extra)}")
    for rid, scenario, missed, extra in rules_score.cases[:cases]:
        out.append(f"  {rid} {scenario} missed={missed} extra={extra}")
    return out


def evaluate_parts(rules: Rules, data_dir: Path = DATA_DIR, parts: Iterable[str] = PARTS,
                   cases: int = 10) -> tuple[list[str], dict[str, tuple[Score, Score]]]:
    lines, scores = [f"rules {rules.name} {rules.version}"], {}
    for part in parts:
        items = list(read_corpus(data_dir / PARTS[part]))
        rs, bs = score(items, rules_classifier(rules)), score(items, baseline_classifier)
        scores[part] = (rs, bs)
        lines += report(f"{part} ({len(items)} records)", rs, bs, cases)
    return lines, scores
