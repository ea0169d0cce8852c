"""The bad-input corpus generator: at least 300 cases, every family the issue names, deterministic,
and the committed sample is what it writes."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.data.hostile.generate import CANARY_FAMILY, corpus

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "hostile" / "sample"
FAMILIES = {"nemsis-malformed", "nemsis-xxe", "nemsis-entity-bomb", "nemsis-wrong-namespace", "nemsis-huge-narrative",
            "nemsis-invalid-date", "nemsis-wrong-version", "eido-deep-nesting", "eido-wrong-types", "eido-huge-arrays",
            "cad-bad-encoding", "cad-ragged-rows", "cad-formula-injection", "hl7-bad-delimiters", "hl7-missing-msh",
            "hl7-truncated-frame", "hl7-no-end-block", "consent-bad-reference", "consent-huge-attachment",
            "avro-fingerprint", "avro-truncated"}


def test_corpus_size_families_channels_and_determinism():
    cases = corpus()
    assert len(cases) >= 300 and len({c.name for c in cases}) == len(cases)
    assert FAMILIES <= {c.family for c in cases}
    channels = Counter(c.channel.split(":")[0] for c in cases)
    assert set(channels) == {"http", "file", "mllp", "avro"}
    assert [c.data for c in corpus()] == [c.data for c in cases]
    # the canary person is in every document that has a person (Avro: the samples' own person)
    with_canary = [c for c in cases if CANARY_FAMILY.encode() in c.data]
    assert len(with_canary) >= 250


def test_the_committed_sample_is_what_the_generator_writes():
    made = {c.name.replace("@", "__").replace(":", "-"): c.data for c in corpus()}
    files = sorted(SAMPLE.iterdir())
    assert len(files) >= 8
    for path in files:
        assert made[path.name] == path.read_bytes(), path.name
