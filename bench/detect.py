"""Detection throughput on one core (CPU time of this process): `classify_run` / `classify_incident` over
the labelled tuning corpus, beside the naive keyword baseline (one regex per category over the same
narratives) measured in the same run, so that a loaded machine shows as a ratio, not as a regression.

    .venv/bin/python -m bench.detect
"""
from __future__ import annotations

import time

from connectors.cad.replay import incident_from_raw
from pipeline.detect import classify_incident, classify_run, load_rules
from pipeline.detect.baseline import keyword_baseline
from pipeline.detect.evaluate import DATA_DIR, read_corpus
from pipeline.records import EmsRun


def _measure(name: str, items: list, classify, rounds: int = 3, min_seconds: float = 0.5) -> dict:
    """The best of `rounds` rounds (a shared machine's other tenants only ever slow a round down)."""
    best = float("inf")
    for _ in range(rounds):
        done = 0
        started = time.process_time()
        while time.process_time() - started < min_seconds:
            for item in items:
                classify(item)
            done += len(items)
        best = min(best, (time.process_time() - started) / done)
    return {"name": name, "records_per_s": round(1 / best), "us_per_record": round(best * 1e6, 1)}


def run() -> list[dict]:
    rules = load_rules()
    items = list(read_corpus(DATA_DIR / "corpus.jsonl", incident_from_raw))
    runs = [i.record for i in items if isinstance(i.record, EmsRun)]
    incidents = [i.record for i in items if not isinstance(i.record, EmsRun)]
    keywords = _measure("keyword baseline ems.run", runs, lambda r: keyword_baseline(r.narrative))
    rows = [
        _measure("classify ems.run", runs, lambda r: classify_run(r, rules)),
        _measure("classify dispatch.incident", incidents, lambda r: classify_incident(r, rules)),
    ]
    for row in rows:
        row["vs_keyword_baseline"] = round(row["records_per_s"] / keywords["records_per_s"], 3)
    return [keywords, *rows]


if __name__ == "__main__":
    for row in run():
        print("  ".join(f"{k}={v}" for k, v in row.items()))
