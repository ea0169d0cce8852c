"""The labelled corpus: deterministic, large enough, valid shared records, hard classes covered."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from connectors.cad.replay import incident_from_raw
from pipeline.detect.corpus.generate import HARD_CLASSES, PARTS, generate
from pipeline.detect.evaluate import labelled
from pipeline.records import DispatchIncident, EmsRun
from pipeline.vocab import Category

DATA = Path(__file__).resolve().parents[2] / "data" / "detect"


@pytest.mark.parametrize("part", list(PARTS))
def test_committed_file_is_what_the_generator_writes(part):
    committed = (DATA / f"{part}.jsonl").read_text(encoding="utf-8").splitlines()
    generated = [json.dumps(line, sort_keys=True) for line in generate(part)]
    assert committed == generated


@pytest.mark.parametrize("part,minimum,per_class", [("corpus", 2000, 50), ("heldout", 500, 25), ("fresh", 500, 20)])
def test_sizes_and_hard_classes(part, minimum, per_class):
    lines = list(generate(part))
    assert len(lines) >= minimum
    kinds = Counter(line["record_type"] for line in lines)
    assert kinds["ems.run"] > 0 and kinds["dispatch.incident"] > 0
    sources = Counter(line["source"] for line in lines)
    assert min(sources[s] for s in ("epcr", "eido", "cad_export")) >= minimum // 10, sources
    tags = Counter(t for line in lines for t in line["tags"])
    assert {c: tags[c] for c in HARD_CLASSES if tags[c] < per_class} == {}
    truths = Counter(c for line in lines for c in line["truth"])
    assert all(truths[c.value] >= 100 for c in Category)


def test_records_are_valid_shared_records_and_truth_respects_boundaries():
    for line in generate("heldout"):
        record = labelled(line, incident_from_raw).record
        assert isinstance(record, EmsRun if line["record_type"] == "ems.run" else DispatchIncident)
        truth = set(line["truth"])
        assert truth <= {c.value for c in Category}
        if "opioid_overdose" in truth:
            assert "overdose" in truth
        if "suicide_risk" in truth:
            assert "behavioral_health" in truth


def test_heldout_and_fresh_templates_are_separate():
    from pipeline.detect.corpus import bank_fresh, bank_heldout, bank_tuning

    def phrases(bank):
        return {p for key, ps in bank.BANK["phr"].items() for p in ps}
    banks = [phrases(bank_tuning), phrases(bank_heldout), phrases(bank_fresh)]
    assert banks[0] & banks[1] == set() and banks[0] & banks[2] == set() and banks[1] & banks[2] == set()
    assert set(bank_tuning.CODES["opioid_od"]) & set(bank_heldout.CODES["opioid_od"]) == set()


def test_cad_sources_read_through_the_connectors():
    """EIDO documents and CAD exports of both sites read as the incident they were written from."""
    seen = Counter()
    for line in generate("heldout"):
        if line["source"] == "epcr":
            continue
        incident = labelled(line, incident_from_raw).record
        site = line.get("mapping", {}).get("name", "eido")
        seen[site] += 1
        assert incident.key.incident_number and incident.envelope.source_record_id
        assert incident.narrative.replace("\r\n", "\n") in str(line["raw"]).replace("&#x27;", "'") or not incident.narrative
    assert set(seen) == {"eido", "cad-a", "cad-b"}
