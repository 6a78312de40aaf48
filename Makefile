# The README's two commands are `make run` and `make test`; everything else is a convenience.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced

.PHONY: run test unit integration lint fmt bench bench-notify chaos simulate clean events-schema openapi help

help:
	@echo "make run    - set up .venv and start the whole system on its embedded default"
	@echo "make test   - set up .venv and run the full test suite"
	@echo "make unit / make integration - only the pure / only the real-infrastructure tests"
	@echo "make lint   - ruff + mypy --strict     make fmt - ruff format + fixes"
	@echo "make bench  - load: ingest vs bare FastAPI, end-to-end latency, peak RSS, claim time (docs/bench.md)"
	@echo "make bench-notify - notify walker + dispatcher throughput (prints figures)"
	@echo "make chaos  - SIGKILL every role and restart the broker under 2000 webhooks; check DESIGN §4"
	@echo "make simulate - the recovery simulator on the three presets (tables + HTML reports)"
	@echo "make events-schema - regenerate docs/events/*.schema.json from the code"
	@echo "make openapi - regenerate docs/openapi.json (what dunning run serves at /openapi.json)"
	@echo "make clean  - remove .venv, caches and the embedded data dir"

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8

# Re-sync whenever the lock or a project file changes; --frozen refuses a stale lock.
# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI images often do),
# every process would otherwise compile the whole system from source at start (8 s, not 3 s),
# and the tests start many processes. Our own sources are compiled too; an edited file is
# simply compiled again in memory.
$(STAMP): $(UV) uv.lock pyproject.toml libs/common/pyproject.toml services/*/pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-packages --compile-bytecode --python $(BIN)/python
	$(BIN)/python -m compileall -q -j 0 src libs/common/src services/ingest/src services/retry/src services/notify/src > /dev/null
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/dunning run

test: $(STAMP)
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src libs/common/src services/*/src tests bench

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python bench/load.py

bench-notify: $(STAMP)
	PYTHONPATH=. $(BIN)/python bench/notify_throughput.py

# N=... for another number of webhooks (e.g. make chaos N=500).
chaos: $(STAMP)
	PYTHONPATH=. $(BIN)/python bench/chaos.py --webhooks $(or $(N),2000)

simulate: $(STAMP)
	for p in consumer-monthly b2b-net30 mixed-global; do \
		$(BIN)/dunning simulate --preset $$p --customers 5000 --seed 1 --out .dunning/simulation/$$p || exit 1; \
	done

events-schema: $(STAMP)
	$(BIN)/python -m dunning.common.events.export docs/events

openapi: $(STAMP)
	$(BIN)/python -m dunning.cli.openapi docs/openapi.json

clean:
	rm -rf $(VENV) .dunning .pytest_cache .mypy_cache .ruff_cache bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
