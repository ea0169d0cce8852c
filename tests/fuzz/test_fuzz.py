"""Fuzzing every inbound parser and the MLLP framer (tests/fuzz/targets.py): no exception outside
the project's rejection types, no input over 1 s.

`make test`: a short, derandomised hypothesis run per target (seeds from the hostile corpus's
generators, mutated: cut, spliced, bytes flipped or inserted; and plain random bytes).
`make fuzz` (CI runs it beside `make test`; `make test-long` too): atheris (coverage-guided libFuzzer,
seed fixed) for FUZZ_SECONDS (default 60) per target, in a subprocess each (tests/fuzz/run.py);
hypothesis for the same time if atheris does not install here.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.fuzz.seeds import seeds
from tests.fuzz.targets import TARGETS

SEEDS = seeds()
LIMIT_SECONDS = 1.0


@st.composite
def mutated(draw, name: str) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS[name])))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(("cut", "flip", "insert", "splice", "repeat")))
        if how == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif how == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.sampled_from([b"\x00", b"\xff", b"<", b"&", b'"', b"|", b"^", b"\r", b"\x0b",
                                                b"\x1c\x0d", b"{", b"[", b",", b"\\", b"\xc3", b"<!DOCTYPE x>"]))
        elif how == "splice":
            other = draw(st.sampled_from(SEEDS[draw(st.sampled_from(sorted(SEEDS)))]))
            data[at:at] = other[:draw(st.integers(0, len(other)))]
        elif how == "repeat":
            data[at:at] = bytes(data[at:at + 16]) * draw(st.integers(2, 50))
    return bytes(data)


def run_bounded(name: str, data: bytes, slowest: list[float]) -> None:
    started = time.perf_counter()
    TARGETS[name](data)
    slowest.append(time.perf_counter() - started)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_mutated_and_random_inputs(name):
    times: list[float] = []

    @settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.one_of(mutated(name), st.binary(max_size=512)))
    def fuzz(data: bytes) -> None:
        run_bounded(name, data, times)

    fuzz()
    assert times and max(times) < LIMIT_SECONDS, f"slowest input took {max(times):.2f} s"


def test_targets_cover_every_parser_and_the_framer():
    from connectors.parsers import KINDS

    covered = {"nemsis", "hl7", "eido", "cad", "field"}
    assert covered == set(KINDS)
    assert {"consent", "avro", "mllp", "rri", "xml"} <= set(TARGETS)


def _atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.long
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_long_fuzz(name, tmp_path):
    seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
    if not _atheris():  # hypothesis for the same time instead
        deadline, times = time.monotonic() + seconds, []

        @settings(max_examples=10**9, suppress_health_check=list(HealthCheck), deadline=None)
        @given(st.one_of(mutated(name), st.binary(max_size=4096)))
        def fuzz(data: bytes) -> None:
            if time.monotonic() < deadline:
                run_bounded(name, data, times)

        fuzz()
        assert max(times) < LIMIT_SECONDS
        return
    done = subprocess.run([sys.executable, "-m", "tests.fuzz.run", name, str(seconds), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=seconds + 120)
    stats = [line for line in done.stderr.splitlines() if line.startswith(("Done", "stat::slowest", "stat::peak_rss"))]
    print(f"\nfuzz {name}: {'; '.join(stats)}")
    assert done.returncode == 0, done.stderr[-3000:]
