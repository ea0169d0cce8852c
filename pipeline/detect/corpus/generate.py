"""Generate the labelled detection corpus (fixed seeds): a tuning part and a held-out part.

    .venv/bin/python -m pipeline.detect.corpus.generate [OUT_DIR]   # default tests/data/detect

Each JSON line: {"source": "epcr" | "eido" | "cad_export", "record_type": "ems.run" | "dispatch.incident",
"truth": [categories], "tags": [hard classes], "scenario": name} and
- epcr: "record": <EmsRun model_dump(mode="json")>, "dispatch": <linked incident or absent>;
- eido: "raw": <the EIDO document>; cad_export: "raw": <CSV text>, "mapping": <the site's column mapping>
  (read through connectors/cad when evaluated, see sources.py).
The held-out part is drawn from bank_heldout (separate phrase templates and code choices); the fresh
part from bank_fresh, written after the issue-18 rule changes, before any rule saw it.
"""
from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

from pipeline.detect.corpus import bank_fresh, bank_heldout, bank_tuning
from pipeline.detect.corpus.build import incident_key, make_incident, make_run
from pipeline.detect.corpus.confusions import CONFUSION_SCENARIOS
from pipeline.detect.corpus.dispatch_scenarios import DISPATCH_SCENARIOS
from pipeline.detect.corpus.scenarios import RUN_SCENARIOS, Ctx
from pipeline.detect.corpus.sources import SITES, cad_export, eido_document

PARTS = {
    # part: (bank, seed, EMS runs, CAD incidents)
    "corpus": (bank_tuning.BANK, 20250301, 2000, 1000),
    "heldout": (bank_heldout.BANK, 77000077, 900, 600),
    "fresh": (bank_fresh.BANK, 18181818, 900, 600),  # the blind part (bank_fresh.py): never tuned on
}
RUNS = RUN_SCENARIOS + CONFUSION_SCENARIOS
HARD_CLASSES = [
    "negation", "history", "third_party", "misspelling_abbreviation", "naloxone_not_proof", "alcohol_only",
    "stimulants", "intentional_ingestion", "psychiatric_no_substance", "refusal_of_transport", "fatal_overdose",
    "determinant_call_type", "caller_third_party", "law_enforcement_drugs", "lone_sign", "bh_medical_cause",
    "su_structured_only",
]


def _pick(rng: random.Random, table):
    names, weights, fns = zip(*table)
    i = rng.choices(range(len(names)), weights=weights)[0]
    return names[i], fns[i]


def _dump(record) -> dict:
    return record.model_dump(mode="json", exclude_defaults=True)


def generate(part: str) -> Iterator[dict]:
    """Yield the labelled lines of one part, deterministically."""
    bank, seed, runs, incidents = PARTS[part]
    rng = random.Random(seed)
    for n in range(runs + incidents):
        ctx = Ctx(rng, bank)
        is_run = n < runs
        name, fn = _pick(rng, RUNS if is_run else DISPATCH_SCENARIOS)
        facts, truth, _ = fn(ctx)
        line: dict = {"scenario": name}
        if is_run:
            run = make_run(rng, n, part, facts)
            line.update(source="epcr", record_type="ems.run", record=_dump(run))
            if ctx.linked is not None:
                line["dispatch"] = _dump(make_incident(rng, n, part, ctx.linked, run.key, run.times.psap_call))
        else:
            key, when = incident_key(rng, n, part)
            facts.setdefault("priority", rng.randint(3, 9))
            line["record_type"] = "dispatch.incident"
            if rng.random() < 0.45:
                line.update(source="eido", raw=eido_document(rng, key, when, facts))
            else:
                site = rng.choice(sorted(SITES))
                line.update(source="cad_export", raw=cad_export(rng, site, key, when, facts), mapping={**SITES[site], "dispatch_centre": key.dispatch_centre})
        line["truth"] = sorted(truth)
        line["tags"] = sorted(ctx.tags)
        yield line


def write(out_dir: Path) -> dict[str, Counter]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Counter] = {}
    for part in PARTS:
        counts: Counter = Counter()
        with open(out_dir / f"{part}.jsonl", "w", encoding="utf-8") as fh:
            for line in generate(part):
                fh.write(json.dumps(line, sort_keys=True) + "\n")
                counts["records"] += 1
                counts.update(line["tags"])
                counts.update(f"truth:{c}" for c in line["truth"])
        stats[part] = counts
    return stats


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/data/detect")
    for part, counts in write(out).items():
        print(part, dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
