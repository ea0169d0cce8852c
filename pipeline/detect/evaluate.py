"""Measure the rules and the two baselines (codes-only NEMSIS, naive keywords) on the labelled corpus.

Prints precision, recall and F1 per category for the tuning and held-out parts, the same table per
source (ePCR, EIDO, CAD export), and the confusion cases (record id, scenario, missed and extra
categories; never narrative text). CAD incidents kept raw in the corpus are read by a `decode`
function the caller passes in (the entry layer gives `connectors.cad.replay.incident_from_raw`), so
that the core never imports a connector.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pipeline.detect.baseline import baseline_run, keyword_baseline
from pipeline.detect.engine import classify_incident, classify_run
from pipeline.detect.ruleset import Rules
from pipeline.records import DispatchIncident, EmsRun
from pipeline.vocab import Category

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "detect"
PARTS = {"tuning": "corpus.jsonl", "held-out": "heldout.jsonl", "fresh": "fresh.jsonl"}
SOURCES = {"epcr": "ePCR", "eido": "EIDO", "cad_export": "CAD export"}
Decode = Callable[[str, object, dict | None], DispatchIncident]


@dataclass(frozen=True)
class Labelled:
    record: EmsRun | DispatchIncident
    truth: frozenset[Category]
    scenario: str
    dispatch: DispatchIncident | None = None
    source: str = "epcr"


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


def _no_decode(source: str, raw, mapping) -> DispatchIncident:
    raise ValueError(f"the corpus holds raw {source} incidents: pass a decode function (connectors.cad.replay)")


def read_corpus(path: Path, decode: Decode = _no_decode) -> Iterator[Labelled]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield labelled(json.loads(line), decode)


def labelled(row: dict, decode: Decode = _no_decode) -> Labelled:
    """One corpus line as a record with its truth (raw CAD sources read with `decode`)."""
    source = row.get("source", "epcr" if row["record_type"] == "ems.run" else "eido")
    if "raw" in row:
        record: EmsRun | DispatchIncident = decode(source, row["raw"], row.get("mapping"))
    elif row["record_type"] == "ems.run":
        record = EmsRun.model_validate(row["record"])
    else:
        record = DispatchIncident.model_validate(row["record"])
    dispatch = DispatchIncident.model_validate(row["dispatch"]) if row.get("dispatch") else None
    return Labelled(record, frozenset(Category(c) for c in row["truth"]), row.get("scenario", ""), dispatch, source)


def rules_classifier(rules: Rules) -> Callable[[Labelled], set[Category]]:
    def classify(item: Labelled) -> set[Category]:
        if isinstance(item.record, EmsRun):
            return set(classify_run(item.record, rules, item.dispatch).categories)
        return set(classify_incident(item.record, rules).categories)
    return classify


def baseline_classifier(item: Labelled) -> set[Category]:
    return baseline_run(item.record) if isinstance(item.record, EmsRun) else set()


def keyword_classifier(item: Labelled) -> set[Category]:
    return keyword_baseline(item.record.narrative, item.dispatch.narrative if item.dispatch else "")


CLASSIFIERS = {"codes-only": baseline_classifier, "keywords": keyword_classifier}


def score(items: Iterable[Labelled], classify: Callable[[Labelled], set[Category]]) -> Score:
    result = Score()
    for item in items:
        result.add(item.record.envelope.source_record_id, item.scenario, set(item.truth), classify(item))
    return result


def table(title: str, scores: dict[str, Score]) -> list[str]:
    """Rules P/R/F1, then F1 of each baseline, per category."""
    rules = scores["rules"]
    names = [n for n in scores if n != "rules"]
    head = f"{'category':<20} {'rules P':>8} {'R':>6} {'F1':>6}" + "".join(f" {n + ' F1':>14}" for n in names)
    out = [title, head + "  support"]
    for c in Category:
        p, r, f = rules.prf(c)
        base = "".join(f" {scores[n].prf(c)[2]:>14.3f}" for n in names)
        out.append(f"{c.value:<20} {p:>8.3f} {r:>6.3f} {f:>6.3f}{base}  {rules.tp[c] + rules.fn[c]}")
    return out


def _cases(rules: Score, cases: int) -> list[str]:
    out = [f"confusion cases (rules): {len(rules.cases)}"]
    by_kind = Counter((s, tuple(m), tuple(x)) for _, s, m, x in rules.cases)
    for (scenario, missed, extra), n in by_kind.most_common(cases):
        out.append(f"  {n:>4} x {scenario:<24} missed={list(missed)} extra={list(extra)}")
    for rid, scenario, missed, extra in rules.cases[:cases]:
        out.append(f"  {rid} {scenario} missed={missed} extra={extra}")
    return out


def evaluate_items(rules: Rules, items: list[Labelled]) -> dict[str, dict[str, Score]]:
    """Scores by subset (`all` and each source present) and classifier (`rules` and the baselines)."""
    classifiers = {"rules": rules_classifier(rules), **CLASSIFIERS}
    subsets = {"all": items}
    for source in SOURCES:
        chosen = [i for i in items if i.source == source]
        if chosen:
            subsets[source] = chosen
    return {name: {c: score(chosen, fn) for c, fn in classifiers.items()} for name, chosen in subsets.items()}


def evaluate_parts(rules: Rules, data_dir: Path = DATA_DIR, parts: Iterable[str] = PARTS, cases: int = 10,
                   decode: Decode = _no_decode) -> tuple[list[str], dict[str, dict[str, dict[str, Score]]]]:
    lines, results = [f"rules {rules.name} {rules.version}"], {}
    for part in parts:
        items = list(read_corpus(data_dir / PARTS[part], decode))
        scored = results[part] = evaluate_items(rules, items)
        lines += table(f"== {part} ({len(items)} records)", scored["all"])
        for source, label in SOURCES.items():
            if source in scored:
                n = sum(1 for i in items if i.source == source)
                lines += table(f"-- {part}, {label} only ({n} records)", scored[source])
        lines += _cases(scored["all"]["rules"], cases)
    return lines, results
