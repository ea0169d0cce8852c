# Thin wrappers over the project's own commands. Two commands set up everything:
#   make run    the main job on the embedded default (ONCE=1 exits after the sample)
#   make test   the test suite (starts its own Kafka broker)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FUZZ_SECONDS ?= 60

.PHONY: run test test-unit test-integration test-long fuzz bench lint schemas clean

$(STAMP): pyproject.toml
	@scripts/check-tools.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/handoff broker fetch
	$(BIN)/handoff run $(if $(ONCE),--once,)

test: $(STAMP)
	$(BIN)/handoff broker fetch
	$(BIN)/python -m pytest -q --durations=10 tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP)
	$(BIN)/handoff broker fetch
	$(BIN)/python -m pytest -q tests/integration

test-long: $(STAMP)
	$(BIN)/handoff broker fetch
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q -m "long or hypothesis" tests

# atheris (libFuzzer, seed fixed) for FUZZ_SECONDS per target; CI runs it beside `make test`
fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -q -s -m long tests/fuzz/test_fuzz.py -k test_long_fuzz

bench: $(STAMP)
	$(BIN)/handoff broker fetch
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/handoff schemas check

schemas: $(STAMP)
	$(BIN)/handoff schemas write

clean:
	rm -rf .run
