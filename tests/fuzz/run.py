"""Coverage-guided fuzzing of one target with atheris (libFuzzer), `make test-long`:

    python -m tests.fuzz.run TARGET SECONDS WORKDIR

The parser and connector modules are instrumented; the target's seeds start the corpus in
WORKDIR/corpus; a crash (an exception outside the project's rejection types) or an input
taking over 1 s (libFuzzer's -timeout=1) stops the run with a non-zero exit and the input
saved as WORKDIR/crash-* or timeout-*.
"""
from __future__ import annotations

import sys
from pathlib import Path

import atheris


def main() -> None:
    name, seconds, workdir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    with atheris.instrument_imports(include=["connectors", "pipeline"]):
        from tests.fuzz.targets import TARGETS
    from tests.fuzz.seeds import seeds

    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds()[name]):
        (corpus / f"seed-{i}").write_bytes(seed)
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-timeout=1", "-max_len=20000", "-seed=28",
                   f"-artifact_prefix={workdir}/", "-print_final_stats=1", str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
